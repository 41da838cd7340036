//! End-to-end: canary releases on the one-machine stack, judged by the rendered
//! AnalysisTemplate against the local Prometheus, under steady shopper load. One stack
//! serves every scenario; each leaves the stable version serving. Everything listens on
//! 127.0.0.1, every load is bounded in rate and time, and the stack's processes are
//! stopped by pid at the end, also after a failure.
//!
//! The environment is the repository's dev file with the frontend (which every shopper's
//! request reaches) and the cart (which takes the checkouts) released as canaries in
//! short steps: a 15 s analysis interval (three scrapes of the stack's Prometheus), 20%
//! then 50%.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use kubestore_core::canary::{CANARY_SUBSET, STABLE_SUBSET};
use kubestore_core::catalog;
use kubestore_gen::envoy::ports::CANARY_REPLICA;
use kubestore_stack::http;
use kubestore_stack::load::{self, Report};
use kubestore_stack::plan::{self, Versions};
use kubestore_stack::rollout::{self, Record, Verdict};
use kubestore_stack::stack::{Request, Stack};

mod support;
use support::{
    bin_dir, fill_cart, first_product, keyed_checkout_until_cut, mysql_count, repo,
    wait_healthy_in_callers, with_checkout_answers_lost,
};

/// Port plan of these tests: away from `scripts/stack up` (20000), e2e.rs (24000) and a local RabbitMQ (25672).
const PORT_BASE: u16 = 27000;
/// Shoppers through the ingress, requests per second.
const RATE: u32 = 40;
/// The service released.
const SERVICE: &str = "frontend";
/// Its first step's weight, percent (the environment below).
const FIRST_WEIGHT: u32 = 20;
/// Share of requests, on top of the first weight times the canary's failure rate, that
/// may fail during a bad release: the balancer's split is random, so over the few hundred
/// requests of one step the canary's share varies by a few percent around its weight.
const MARGIN: f64 = 0.03;
/// The most a release of these scenarios may take.
const RELEASE_LIMIT: Duration = Duration::from_secs(180);

/// The release setting of the canary services: short steps, an interval of three scrapes.
const RELEASE: &str = "{strategy: canary, steps: [{weight: 20, pause: 30s}, {weight: 50, pause: 30s}], analysis_interval: 15s, min_requests: 30}";

type Scenario = support::Scenario<Stack>;

fn environment() -> String {
    let dev = std::fs::read_to_string(repo().join("environments/dev.yaml")).expect("dev.yaml");
    let text = dev
        .replace("name: dev", "name: canary-e2e")
        .replace("kubestore-dev", "kubestore-canary-e2e");
    format!(
        "{text}\nservices:\n  {SERVICE}:\n    release: {RELEASE}\n  cart:\n    release: {RELEASE}\n"
    )
}

fn main() -> ExitCode {
    let scenarios: &[(&str, Scenario)] = &[
        ("low_traffic_is_not_promoted", low_traffic_is_not_promoted),
        ("bad_canary_is_aborted", bad_canary_is_aborted),
        (
            "retries_stay_safe_through_weighted_routes",
            retries_stay_safe_through_weighted_routes,
        ),
        // Last: it changes the frontend's stable version.
        ("good_canary_is_promoted", good_canary_is_promoted),
    ];
    support::run_scenarios("canary", scenarios, setup, |s: &mut Stack| s)
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
/// the record, the shoppers' report and when the release started on the load's clock
/// (seconds).
fn release_under_load(
    stack: &mut Stack,
    settings: &[(&str, &str)],
    rate: u32,
) -> (Record, Report, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let url = stack.plan.store_url();
    let load_started = Instant::now();
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
    let offset = started.duration_since(load_started).as_secs_f64();
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
    (record, report, offset)
}

/// Test 3: a canary that gets too little traffic is not promoted, and the record says
/// which measurement found too few requests.
fn low_traffic_is_not_promoted(stack: &mut Stack) {
    let (record, _, _) = release_under_load(stack, &[("RELEASE", "quiet")], 0);
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
    let (record, report, offset) =
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
    let canary_failure_rate = canary_failure_rate(stack, &record.canary_hash);
    let bound = f64::from(FIRST_WEIGHT) / 100.0 * canary_failure_rate + MARGIN;
    eprintln!(
        "  failed share {share:.4}; bound {bound:.4} = {FIRST_WEIGHT}% x the canary's failure rate {canary_failure_rate:.4} + {MARGIN}"
    );
    assert!(share <= bound, "failed share {share:.4} above {bound:.4}");
    // The time from the first failed request to the abort (the weight back at 0).
    let first_failure = report.failures().map(|s| s.at).fold(f64::NAN, f64::min);
    let aborted_at = offset + record.weights.last().map(|(at, _)| *at).unwrap_or_default();
    eprintln!(
        "  first failed request at {first_failure:.1} s, weight back to 0 at {aborted_at:.1} s: {:.1} s from the first failure to the abort",
        aborted_at - first_failure
    );
    // The stable version serves: no failure after the abort settles.
    let after = load::run(&stack.plan.store_url(), RATE, Duration::from_secs(5)).expect("load");
    assert_eq!(after.summary().failed, 0, "the stable version serves");
    assert!(stack.plan.versions[SERVICE].stable.is_empty());
}

/// Test 2: a good version is promoted through every step with no failed request, and
/// then serves as the stable version.
fn good_canary_is_promoted(stack: &mut Stack) {
    let (record, report, _) = release_under_load(stack, &[("RELEASE", "2")], RATE);
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

/// The share of the canary's requests that failed (5xx), from its own series in the
/// stack's Prometheus, over the last two minutes (the whole of a bad release).
fn canary_failure_rate(stack: &Stack, hash: &str) -> f64 {
    let series = |extra: &str| {
        format!(
            "sum(increase({}{{service=\"{SERVICE}\",{}=\"{hash}\"{extra}}}[2m]))",
            kubestore_core::metrics::REQUESTS_TOTAL,
            kubestore_core::canary::POD_TEMPLATE_HASH_SERIES_LABEL,
        )
    };
    let query = format!(
        "({} or vector(0)) / {}",
        series(",status=~\"5..\""),
        series("")
    );
    let answer = http::get(
        stack.plan.ports.prometheus(),
        &format!("/api/v1/query?query={}", http::encode(&query)),
    )
    .expect("Prometheus answers");
    let json: Value = serde_json::from_str(&answer.body).expect("JSON");
    json["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no failure rate of the canary: {}", answer.body))
}

/// `POST path` without an Idempotency-Key: (status, body).
fn post_without_key(port: u16, path: &str, body: &str) -> (u16, String) {
    let answer = http::request(port, "POST", path, Some(("application/json", body)));
    answer.map_or((0, String::new()), |a| (a.status, a.body))
}

/// Test 4: with the cart's routes split 50/50 between its stable replicas and a running
/// canary, a keyed checkout whose answer is lost (a relay in front of cart-0 closes the
/// connection after the order is made) is retried by the caller's sidecar and returns
/// the same order; a key-less checkout whose answer is lost is never repeated: the
/// customer hears of a failure and exactly one order exists.
fn retries_stay_safe_through_weighted_routes(stack: &mut Stack) {
    let frontend = catalog::service("frontend").expect("frontend");
    // The cart's canary replica, running, with the routes split half and half.
    stack
        .set_versions(
            "cart",
            Versions {
                stable: Vec::new(),
                canary: Some(vec![("RELEASE".into(), "retries".into())]),
            },
        )
        .expect("versions recorded");
    for name in [
        plan::sidecar_name("cart", CANARY_REPLICA),
        plan::app_name("cart", CANARY_REPLICA),
    ] {
        stack.revive(&name).expect("the cart canary starts");
    }
    wait_healthy_in_callers(stack, "cart", CANARY_REPLICA);
    rollout::set_weight(stack, "cart", [STABLE_SUBSET, CANARY_SUBSET], 50).expect("weights");
    let via = stack.plan.ports.outbound(frontend, 0, "cart");
    let dump = http::get(stack.plan.ports.sidecar_admin(frontend, 0), "/config_dump")
        .expect("config dump");
    assert!(
        dump.body.contains("weighted_clusters") && dump.body.contains("|canary|cart."),
        "the route to the cart is split between its subsets"
    );

    with_checkout_answers_lost(stack, |stack, swallowed, user_id| {
        let product = first_product(stack);
        let orders_db = stack.plan.database_url("orders");
        let orders_db = orders_db
            .rsplit('/')
            .next()
            .expect("a database name")
            .to_owned();
        let orders_of_user = || {
            mysql_count(
                &orders_db,
                &format!("SELECT COUNT(*) FROM orders WHERE user_id = {user_id}"),
            )
        };
        let body = format!(r#"{{"user_id":{user_id}}}"#);
        // Keyed: the balancer picks a subset, then a replica.
        let cut = keyed_checkout_until_cut(via, product, user_id, swallowed, "wk", 40);
        let (lost_id, answered_id, checkouts) = (cut.lost, cut.answered, cut.checkouts);
        eprintln!(
            "  keyed: cart {}: the lost answer held order {lost_id}; the retry answered order {answered_id}",
            cut.cart
        );
        assert!(lost_id.is_u64(), "the cut checkout made no order");
        assert_eq!(lost_id, answered_id, "the retry made another order");
        assert_eq!(orders_of_user(), checkouts, "one order per keyed checkout");
        // Key-less: never repeated, so a lost answer is a failure the customer sees, and
        // the order it made is the only one.
        let before = swallowed.lock().expect("lock").len();
        let mut keyless = 0u64;
        let mut lost = None;
        for attempt in 0..40 {
            let id = format!("wn-{}-{attempt}", std::process::id());
            fill_cart(via, &id, product);
            let (status, _) = post_without_key(via, &format!("/v1/carts/{id}/checkout"), &body);
            keyless += 1;
            if swallowed.lock().expect("lock").len() > before {
                lost = Some(status);
                break;
            }
            assert_eq!(status, 201, "a key-less checkout that was not cut failed");
        }
        let status = lost.expect("no key-less checkout went through the cutter");
        eprintln!("  key-less: the lost answer reached the customer as {status}");
        assert!(
            status == 0 || status >= 500,
            "the customer was not told: {status}"
        );
        assert_eq!(
            orders_of_user(),
            checkouts + keyless,
            "a key-less checkout was repeated"
        );
    });
    // Back to the stable version only: weight 0, the canary gone.
    rollout::set_weight(stack, "cart", [STABLE_SUBSET, CANARY_SUBSET], 0).expect("weights");
    for name in [
        plan::app_name("cart", CANARY_REPLICA),
        plan::sidecar_name("cart", CANARY_REPLICA),
    ] {
        if let Some(p) = stack.process(&name).cloned() {
            p.stop(Duration::from_secs(15));
        }
        stack.forget(&name);
    }
    stack
        .set_versions("cart", Versions::default())
        .expect("versions recorded");
}
