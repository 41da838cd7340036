//! End-to-end: canary releases on the one-machine stack, judged by the rendered
//! AnalysisTemplate against the local Prometheus, under steady shopper load. One stack
//! serves every scenario; each leaves the stable version serving. Everything listens on
//! 127.0.0.1, every load is bounded in rate and time, and the stack's processes are
//! stopped by pid at the end, also after a failure.
//!
//! The environment is the repository's dev file with the frontend (which every shopper's
//! request reaches) released as a canary in short steps: a 15 s analysis interval (three
//! scrapes of the stack's Prometheus), 20% then 50%.

use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use kubestore_stack::load::{self, Report};
use kubestore_stack::rollout::{self, Record, Verdict};
use kubestore_stack::stack::{Request, Stack};

mod support;
use support::{bin_dir, repo};

/// Port plan of these tests: away from `scripts/stack up` (20000), e2e.rs (24000) and a local RabbitMQ (25672).
const PORT_BASE: u16 = 27000;
/// Shoppers through the ingress, requests per second.
const RATE: u32 = 40;
/// The service released.
const SERVICE: &str = "frontend";
/// Its first step's weight, percent (the environment below).
const FIRST_WEIGHT: u32 = 20;
/// Share of requests, on top of the first weight times the canary's failure rate, that
/// may fail during a bad release: requests in flight when the weight moves back.
const MARGIN: f64 = 0.02;
/// The most a release of these scenarios may take.
const RELEASE_LIMIT: Duration = Duration::from_secs(180);

type Scenario = fn(&mut Stack);

fn environment() -> String {
    let dev = std::fs::read_to_string(repo().join("environments/dev.yaml")).expect("dev.yaml");
    let text = dev
        .replace("name: dev", "name: canary-e2e")
        .replace("kubestore-dev", "kubestore-canary-e2e");
    format!(
        "{text}\nservices:\n  {SERVICE}:\n    release:\n      strategy: canary\n      steps:\n        - {{weight: {FIRST_WEIGHT}, pause: 30s}}\n        - {{weight: 50, pause: 30s}}\n      analysis_interval: 15s\n      min_requests: 30\n"
    )
}

fn main() -> ExitCode {
    let scenarios: &[(&str, Scenario)] = &[
        ("low_traffic_is_not_promoted", low_traffic_is_not_promoted),
        ("bad_canary_is_aborted", bad_canary_is_aborted),
        ("good_canary_is_promoted", good_canary_is_promoted),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let chosen: Vec<_> = scenarios
        .iter()
        .filter(|(name, _)| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str())))
        .collect();
    if chosen.is_empty() {
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    let mut stack = match setup() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("canary: the stack did not come up: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "canary: stack up in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut failed = Vec::new();
    for (name, scenario) in chosen {
        let t = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| scenario(&mut stack)));
        let secs = t.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => eprintln!("test {name} ... ok ({secs:.1} s)"),
            Err(_) => {
                eprintln!("test {name} ... FAILED ({secs:.1} s)");
                failed.push(*name);
            }
        }
    }
    let stopped = stack.down();
    eprintln!(
        "canary: stopped {} processes; {} scenario(s) failed; total {:.1} s",
        stopped.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}

fn setup() -> anyhow::Result<Stack> {
    let dir = tempfile::Builder::new()
        .prefix("kubestore-canary-")
        .tempdir()?
        .keep();
    let env_dir = dir.join("environments");
    std::fs::create_dir_all(&env_dir)?;
    std::fs::write(env_dir.join("canary-e2e.yaml"), environment())?;
    let request = Request {
        env: "canary-e2e".into(),
        environments: env_dir,
        port_base: PORT_BASE,
        bin_dir: bin_dir(),
        webhooks: Vec::new(),
    };
    let mut stack = Stack::open(&dir.join("run"), Some(request))?;
    stack.up()?;
    Ok(stack)
}

/// Releases `settings` of the frontend while shoppers load the store (if `rate` > 0);
/// the record and the shoppers' report.
fn release_under_load(stack: &mut Stack, settings: &[(&str, &str)], rate: u32) -> (Record, Report) {
    let stop = Arc::new(AtomicBool::new(false));
    let url = stack.plan.store_url();
    let shoppers = {
        let stop = stop.clone();
        thread::spawn(move || {
            if rate == 0 {
                return None;
            }
            Some(load::run_until(&url, rate, RELEASE_LIMIT, &stop).expect("load runs"))
        })
    };
    let settings = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let started = Instant::now();
    let record = rollout::run(stack, SERVICE, settings, &mut |line| eprintln!("  {line}"));
    stop.store(true, Ordering::SeqCst);
    let report = shoppers.join().expect("the load thread");
    let record = record.expect("the release runs");
    assert!(
        started.elapsed() < RELEASE_LIMIT,
        "the release took too long"
    );
    let report = report.unwrap_or(Report {
        samples: Vec::new(),
        seconds: 0.0,
    });
    (record, report)
}

/// Test 3: a canary that gets too little traffic is not promoted, and the record says
/// which measurement found too few requests.
fn low_traffic_is_not_promoted(stack: &mut Stack) {
    let (record, _) = release_under_load(stack, &[("RELEASE", "quiet")], 0);
    eprintln!("  verdict {:?}: {}", record.verdict, record.reason);
    assert_eq!(record.verdict, Verdict::Inconclusive, "{}", record.reason);
    assert_eq!(record.verdict.exit_code(), 3);
    let decided = record.decided_by.as_ref().expect("a measurement decided");
    assert!(
        record.reason.contains("too little to judge"),
        "{}",
        record.reason
    );
    assert!(decided.limits.contains("result[0]"), "{}", decided.limits);
    assert!(
        stack.plan.versions[SERVICE].canary.is_none(),
        "the canary is gone"
    );
    assert!(
        stack.plan.versions[SERVICE].stable.is_empty(),
        "the stable version is unchanged"
    );
}

/// Test 1: under steady shopper load, a version that cannot reach the catalogue is
/// aborted at its first step; the stable version keeps serving; the shoppers' failed
/// share stays within the first weight times the canary's failure rate (at most 1) plus
/// the margin; the record names the SLO, the measured burn and its limit.
fn bad_canary_is_aborted(stack: &mut Stack) {
    let (record, report) =
        release_under_load(stack, &[("PRODUCTS_URL", "http://127.0.0.1:1")], RATE);
    let summary = report.summary();
    eprintln!(
        "  verdict {:?} after {:.1} s: {}; shoppers: {} requests, {} failed",
        record.verdict, record.seconds, record.reason, summary.requests, summary.failed
    );
    assert_eq!(record.verdict, Verdict::Aborted, "{}", record.reason);
    assert_eq!(record.verdict.exit_code(), 1);
    let highest = record.weights.iter().map(|(_, w)| *w).max().unwrap_or(0);
    assert_eq!(
        highest, FIRST_WEIGHT,
        "aborted at the first step: {:?}",
        record.weights
    );
    let decided = record.decided_by.as_ref().expect("a measurement decided");
    assert!(
        decided
            .metric
            .starts_with(&format!("{SERVICE}-availability"))
            || decided.metric.starts_with(&format!("{SERVICE}-latency")),
        "the record names the SLO: {}",
        decided.metric
    );
    assert!(decided.value.is_some() && decided.limits.contains("result[0] >"));
    let share = summary.failed as f64 / summary.requests.max(1) as f64;
    let bound = f64::from(FIRST_WEIGHT) / 100.0 + MARGIN;
    eprintln!("  failed share {share:.4} (bound {bound:.4})");
    assert!(share <= bound, "failed share {share:.4} above {bound:.4}");
    // The time from the first failed request to the abort (the weight back at 0).
    let first_failure = report.failures().map(|s| s.at).fold(f64::NAN, f64::min);
    let aborted_at = record.weights.last().map(|(at, _)| *at).unwrap_or_default();
    eprintln!(
        "  first failed request at {first_failure:.1} s of the load, weight back to 0 at {aborted_at:.1} s of the release"
    );
    // The stable version serves: no failure after the abort settles.
    let after = load::run(&stack.plan.store_url(), RATE, Duration::from_secs(5)).expect("load");
    assert_eq!(after.summary().failed, 0, "the stable version serves");
    assert!(stack.plan.versions[SERVICE].stable.is_empty());
}

/// Test 2: a good version is promoted through every step with no failed request, and
/// then serves as the stable version.
fn good_canary_is_promoted(stack: &mut Stack) {
    let (record, report) = release_under_load(stack, &[("RELEASE", "2")], RATE);
    let summary = report.summary();
    eprintln!(
        "  verdict {:?} after {:.1} s: {}; shoppers: {} requests, {} failed, statuses {:?}",
        record.verdict,
        record.seconds,
        record.reason,
        summary.requests,
        summary.failed,
        summary.statuses
    );
    assert_eq!(record.verdict, Verdict::Promoted, "{}", record.reason);
    let weights: Vec<u32> = record.weights.iter().map(|(_, w)| *w).collect();
    assert_eq!(weights, [FIRST_WEIGHT, 50, 100, 0]);
    assert!(
        record
            .measurements
            .iter()
            .any(|m| m.weight == 50 && m.phase == kubestore_stack::analysis::Phase::Successful),
        "the last step was judged"
    );
    assert_eq!(summary.failed, 0, "no shopper saw a failure");
    assert_eq!(
        stack.plan.versions[SERVICE].stable,
        vec![("RELEASE".to_owned(), "2".to_owned())],
        "the new version is the stable one"
    );
}
