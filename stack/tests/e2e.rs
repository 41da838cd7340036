//! End-to-end: the store on one machine behind real Envoy sidecars, each resilience
//! promise proven by breaking something real. One stack serves every scenario (starting it
//! once saves most of the time); each scenario puts back what it broke, so their outcomes
//! do not depend on each other. Everything listens on 127.0.0.1; every load is bounded in
//! rate and time; the stack's processes are stopped by pid at the end, also after a
//! failure.
//!
//! The environment is the repository's dev file with paging and chaos turned on (dev
//! pages nobody and prod refuses chaos), written to a temp folder.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use kubestore_core::catalog;
use kubestore_gen::envoy::ports::REPLICAS;
use kubestore_gen::render::dashboards::dashboards;
use kubestore_stack::http;
use kubestore_stack::load::{self, Report};
use kubestore_stack::plan;
use kubestore_stack::stack::{Request, Stack};

/// Port plan of the tests: away from a developer's `scripts/stack up` (20000).
const PORT_BASE: u16 = 24000;
/// Load of every scenario, requests per second through the ingress.
const RATE: u32 = 40;
/// Load during the failover scenario: enough that every caller meets the dead replica.
const FAILOVER_RATE: u32 = 160;

type Scenario = fn(&mut World);

struct World {
    stack: Stack,
    env_file: PathBuf,
    env_text: String,
    alerts: Arc<Mutex<Vec<(Instant, Value)>>>,
}

fn main() -> ExitCode {
    let scenarios: &[(&str, Scenario)] = &[
        // First: on a stack that has run the other scenarios, the health check has
        // been seen to take the crashed replica out before outlier detection ejects it.
        ("failover", failover),
        ("chaos_to_page", chaos_to_page),
        ("circuit_breaker", circuit_breaker),
        ("zero_downtime_rollout", zero_downtime_rollout),
        ("retries_are_safe", retries_are_safe),
        // Last: the SLO-window rules are evaluated every 5 minutes, so the first values
        // come up to 5 minutes after Prometheus started.
        ("steady_state", steady_state),
        // Last of all: it stops Prometheus.
        ("slo_check_hard_cases", slo_check_hard_cases),
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
    let mut world = match setup() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("e2e: the stack did not come up: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("e2e: stack up in {:.1} s", started.elapsed().as_secs_f64());
    let mut failed = Vec::new();
    for (name, scenario) in chosen {
        let t = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| scenario(&mut world)));
        let secs = t.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => eprintln!("test {name} ... ok ({secs:.1} s)"),
            Err(_) => {
                eprintln!("test {name} ... FAILED ({secs:.1} s)");
                failed.push(*name);
            }
        }
    }
    let stopped = world.stack.down();
    eprintln!(
        "e2e: stopped {} processes; {} scenario(s) failed; total {:.1} s",
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

/// The SLO gate's binary (and package) name.
const SLO_CHECK: &str = "slo-check";

/// What `slo-check --format json` answered, and its exit code.
struct Verdict {
    code: i32,
    report: Value,
}

/// Runs slo-check against `prometheus` with `args` (after the connection flags).
fn slo_check(prometheus: &str, args: &[String]) -> Verdict {
    let out = std::process::Command::new(bin_dir().join(SLO_CHECK))
        .args([
            "--prometheus",
            prometheus,
            "--format",
            "json",
            "--timeout",
            "30s",
        ])
        .args(args)
        .env_remove("PROMETHEUS_URL")
        .output()
        .expect("slo-check runs");
    let code = out.status.code().expect("slo-check exited");
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    eprintln!(
        "  slo-check {} -> exit {code}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or_default()
    );
    Verdict { code, report }
}

/// slo-check's flags that select this stack's environment, judged over `span`
/// (`["--since", TIME]` or `["--window", D]`).
fn env_args(w: &World, span: [&str; 2]) -> Vec<String> {
    let dir = w.env_file.parent().expect("the environments folder");
    let mut args: Vec<String> = vec![
        "--env".into(),
        "e2e".into(),
        "--environments".into(),
        dir.display().to_string(),
        // The scenarios' load is small; each SLO still sees more than this.
        "--min-events".into(),
        "20".into(),
    ];
    args.extend(span.map(String::from));
    args
}

fn unix_now() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        .to_string()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The service binaries, next to this test's folder (`target/<profile>/`), built if
/// missing.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_owned();
    if catalog::names().iter().any(|s| !dir.join(s).exists()) || !dir.join(SLO_CHECK).exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build.arg("build").current_dir(repo());
        for s in catalog::names() {
            build.args(["-p", &format!("kubestore-{s}")]);
        }
        build.args(["-p", SLO_CHECK]);
        assert!(
            build.status().expect("cargo runs").success(),
            "building the services failed"
        );
    }
    dir
}

/// dev.yaml as an environment that pages and accepts chaos experiments.
fn e2e_environment(experiments: &str) -> String {
    let dev = std::fs::read_to_string(repo().join("environments/dev.yaml")).expect("dev.yaml");
    let text = dev
        .replace("name: dev", "name: e2e")
        .replace("kubestore-dev", "kubestore-e2e")
        .replace("alerts: {page: false}", "alerts: {page: true}");
    assert!(
        text.contains("alerts: {page: true}"),
        "dev.yaml changed shape"
    );
    format!(
        "{text}\nservices:\n  # Small enough that one client overflows it.\n  orders:\n    resilience: {{connection_pool: {{max_connections: 4, max_pending: 2}}}}\n\nchaos:\n  allowed: true\n{experiments}"
    )
}

fn setup() -> anyhow::Result<World> {
    let dir = tempfile::Builder::new()
        .prefix("kubestore-e2e-")
        .tempdir()?
        .keep();
    let env_dir = dir.join("environments");
    std::fs::create_dir_all(&env_dir)?;
    let env_file = env_dir.join("e2e.yaml");
    let env_text = e2e_environment("");
    std::fs::write(&env_file, &env_text)?;
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let receiver = receiver(alerts.clone())?;
    let request = Request {
        env: "e2e".into(),
        environments: env_dir,
        port_base: PORT_BASE,
        bin_dir: bin_dir(),
        webhooks: vec![format!("http://127.0.0.1:{receiver}/")],
    };
    let mut stack = Stack::open(&dir.join("run"), Some(request))?;
    stack.up()?;
    Ok(World {
        stack,
        env_file,
        env_text,
        alerts,
    })
}

/// An Alertmanager webhook receiver on 127.0.0.1: records every notification.
fn receiver(alerts: Arc<Mutex<Vec<(Instant, Value)>>>) -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut raw = Vec::new();
            let mut buf = [0u8; 8192];
            let mut body_start = None;
            let mut length = 0;
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                raw.extend_from_slice(&buf[..n]);
                if body_start.is_none()
                    && let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n")
                {
                    body_start = Some(i + 4);
                    let head = String::from_utf8_lossy(&raw[..i]).to_ascii_lowercase();
                    length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                }
                if let Some(start) = body_start
                    && raw.len() >= start + length
                {
                    break;
                }
            }
            if let Some(start) = body_start
                && let Ok(v) = serde_json::from_slice::<Value>(&raw[start..])
            {
                alerts.lock().expect("lock").push((Instant::now(), v));
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    Ok(port)
}

/// Load until `stop` is set (at most `seconds`).
fn load_until(w: &World, seconds: u64, stop: Arc<AtomicBool>) -> thread::JoinHandle<Report> {
    let url = w.stack.plan.store_url();
    thread::spawn(move || {
        load::run_until(&url, RATE, Duration::from_secs(seconds), &stop).expect("load runs")
    })
}

fn load_in_background(w: &World, seconds: u64) -> thread::JoinHandle<Report> {
    load_at(w, RATE, seconds)
}

fn load_at(w: &World, rate: u32, seconds: u64) -> thread::JoinHandle<Report> {
    let url = w.stack.plan.store_url();
    thread::spawn(move || load::run(&url, rate, Duration::from_secs(seconds)).expect("load runs"))
}

fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query's result vector.
fn query(w: &World, q: &str) -> Vec<Value> {
    let answer = http::get(
        w.stack.plan.ports.prometheus(),
        &format!("/api/v1/query?query={}", encode(q)),
    )
    .expect("Prometheus answers");
    let v: Value =
        serde_json::from_str(&answer.body).unwrap_or_else(|_| panic!("{q}: {}", answer.body));
    assert_eq!(v["status"], "success", "{q}: {}", answer.body);
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// A counter or gauge of one Envoy, by its full name (`cluster.<name>;.<stat>`); 0 if absent.
fn envoy_stat(admin: u16, name: &str) -> u64 {
    let body = http::get(
        admin,
        &format!(
            "/stats?filter={}",
            encode(&format!("^{}$", regex_escape(name)))
        ),
    )
    .map(|a| a.body)
    .unwrap_or_default();
    body.lines()
        .filter_map(|l| l.rsplit_once(": "))
        .filter(|(k, _)| *k == name)
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum()
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "|.;()[]{}+*?^$\\".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

fn cluster(service: &str, namespace: &str) -> String {
    let def = catalog::service(service).expect("a service");
    format!(
        "outbound|{}||{service}.{namespace}.svc.cluster.local",
        def.port
    )
}

fn set_experiments(w: &mut World, experiments: &str) {
    std::fs::write(&w.env_file, e2e_environment(experiments)).expect("env written");
    let restarted = w.stack.apply().expect("apply");
    eprintln!("  restarted {restarted:?}");
}

fn restore_environment(w: &mut World) {
    std::fs::write(&w.env_file, &w.env_text).expect("env written");
    w.stack.apply().expect("apply");
}

/// Test 5: A chaos experiment (every products call aborted with 503) under load pages through
/// Alertmanager; the page resolves once the experiment is removed.
fn chaos_to_page(w: &mut World) {
    // Good traffic first, so the SLI has a history the fault burns against.
    load_in_background(w, 15).join().expect("load");
    let alert = "FrontendAvailabilityFastBurn";
    let firing = |w: &World, status: &str| {
        w.alerts.lock().expect("lock").iter().find_map(|(at, v)| {
            let hit = v["status"] == status
                && v["alerts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| a["labels"]["alertname"] == alert && a["status"] == status);
            hit.then_some(*at)
        })
    };
    assert!(
        firing(w, "firing").is_none(),
        "{alert} fired before any fault"
    );
    set_experiments(
        w,
        "  experiments:\n    - {name: products-outage, service: products, abort: {status: 503, percent: 100}}\n",
    );
    let fault_at = Instant::now();
    let fault_since = unix_now();
    let stop = Arc::new(AtomicBool::new(false));
    let background = load_until(w, 300, stop.clone());
    let deadline = fault_at + Duration::from_secs(140);
    let paged = loop {
        if let Some(at) = firing(w, "firing") {
            break at;
        }
        assert!(
            Instant::now() < deadline,
            "no page within 140 s of the fault"
        );
        thread::sleep(Duration::from_millis(250));
    };
    let to_page = paged.duration_since(fault_at).as_secs_f64();
    eprintln!("  FIGURE time from fault to page: {to_page:.1} s");
    let verdict = slo_check(
        &w.stack.plan.prometheus_url(),
        &env_args(w, ["--since", &fault_since]),
    );
    assert_eq!(
        verdict.code, 1,
        "slo-check during the outage: {}",
        verdict.report
    );
    let breached: Vec<&Value> = verdict.report["slos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["verdict"] == "breached")
        .collect();
    assert!(
        breached
            .iter()
            .any(|s| s["name"] == "frontend-availability" && s["burn_rate"].as_f64() > Some(1.0)),
        "frontend-availability is not named with its numbers: {}",
        verdict.report
    );
    restore_environment(w);
    let removed_at = Instant::now();
    let resolved_deadline = removed_at + Duration::from_secs(180);
    let resolved = loop {
        if let Some(at) = firing(w, "resolved") {
            break at;
        }
        assert!(
            Instant::now() < resolved_deadline,
            "{alert} did not resolve within 180 s"
        );
        thread::sleep(Duration::from_millis(250));
    };
    eprintln!(
        "  FIGURE time from removing the fault to the resolved notification: {:.1} s",
        resolved.duration_since(removed_at).as_secs_f64()
    );
    stop.store(true, Ordering::Relaxed);
    let report = background.join().expect("load");
    eprintln!(
        "  load during the experiment: {:?}",
        report.summary().statuses
    );
}

/// The series only a Kubernetes cluster has: no one-machine stack can show them. Every
/// other panel (the resilience ones read Envoy's own counters, which the local sidecars
/// export as Istio's do) must return data here.
const CLUSTER_ONLY: &[(&str, &str)] = &[
    (
        "kube_",
        "kube-state-metrics reads the Kubernetes API (HPAs, Deployments, pods)",
    ),
    ("container_", "cAdvisor in the kubelet measures containers"),
];

/// The `{{label}}` names a Grafana legend format interpolates.
fn legend_labels(legend: &str) -> Vec<&str> {
    legend
        .split("{{")
        .skip(1)
        .filter_map(|part| part.split_once("}}").map(|(label, _)| label.trim()))
        .collect()
}

/// Test 1: Under load, every query of every rendered dashboard returns data, except those
/// reading series only a cluster has, and every series carries each label its legend
/// names (a missing one shows as a blank in Grafana).
fn steady_state(w: &mut World) {
    let since = unix_now();
    let background = load_in_background(w, 25);
    thread::sleep(Duration::from_secs(20));
    let verdict = slo_check(
        &w.stack.plan.prometheus_url(),
        &env_args(w, ["--since", &since]),
    );
    assert_eq!(
        verdict.code, 0,
        "slo-check under steady load: {}",
        verdict.report
    );
    wait_every_rule_group_evaluated(w);
    let mut empty = Vec::new();
    let mut unlabelled = Vec::new();
    let mut cluster_only = Vec::new();
    let mut checked = 0;
    for d in dashboards(&w.stack.plan.env).expect("dashboards") {
        for panel in d.json["panels"].as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let Some(expr) = target["expr"].as_str() else {
                    continue;
                };
                let title = panel["title"].as_str().unwrap_or_default();
                if let Some((_, why)) = CLUSTER_ONLY
                    .iter()
                    .find(|(prefix, _)| expr.contains(prefix))
                {
                    cluster_only.push(format!("{} / {title}: {why}", d.slug));
                    continue;
                }
                let q = expr.replace("$__rate_interval", "1m");
                checked += 1;
                let series = query(w, &q);
                if series.is_empty() {
                    empty.push(format!("{} / {title}: {q}", d.slug));
                }
                let legend = target["legendFormat"].as_str().unwrap_or_default();
                for label in legend_labels(legend) {
                    let lacking = series
                        .iter()
                        .filter(|s| s["metric"][label].as_str().is_none_or(str::is_empty))
                        .count();
                    if lacking > 0 {
                        unlabelled.push(format!(
                            "{} / {title}: {lacking} of {} series lack `{label}` (legend `{legend}`): {q}",
                            d.slug,
                            series.len()
                        ));
                    }
                }
            }
        }
    }
    background.join().expect("load");
    eprintln!("  {checked} queries returned data; cluster-only panels:");
    for p in &cluster_only {
        eprintln!("    {p}");
    }
    assert!(checked > 0);
    assert!(
        empty.is_empty(),
        "queries without data:\n{}",
        empty.join("\n")
    );
    assert!(
        unlabelled.is_empty(),
        "legends naming labels their series lack:\n{}",
        unlabelled.join("\n")
    );
}

/// Waits (up to 5 minutes after Prometheus started) until every rule group has been
/// evaluated once.
fn wait_every_rule_group_evaluated(w: &World) {
    let deadline = Instant::now() + Duration::from_secs(330);
    loop {
        let body = http::get(w.stack.plan.ports.prometheus(), "/api/v1/rules")
            .map(|a| a.body)
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        let groups = v["data"]["groups"].as_array().cloned().unwrap_or_default();
        let pending = groups
            .iter()
            .filter(|g| {
                g["lastEvaluation"]
                    .as_str()
                    .is_none_or(|t| t.starts_with("0001"))
            })
            .count();
        if !groups.is_empty() && pending == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} rule groups never evaluated"
        );
        thread::sleep(Duration::from_secs(1));
    }
}

/// Test 2: kill -9 one products replica under load: the callers eject it, retries hide it, and
/// it comes back into rotation after a restart.
fn failover(w: &mut World) {
    let ns = w.stack.plan.env.namespace.clone();
    let products = cluster("products", &ns);
    let admins = w.stack.caller_admins("products");
    let ejected = || -> u64 {
        admins
            .iter()
            .map(|a| {
                envoy_stat(
                    *a,
                    &format!("cluster.{products};.outlier_detection.ejections_active"),
                )
            })
            .sum()
    };
    assert_eq!(ejected(), 0, "nothing is ejected before the crash");
    // Outlier detection needs 5 consecutive failures in one caller before the readiness
    // health check (3 failed probes, 1 s apart) takes the dead host out of rotation:
    // at the steady rate a caller can see fewer than 5 requests to it in that time.
    let background = load_at(w, FAILOVER_RATE, 20);
    thread::sleep(Duration::from_secs(5));
    let victim = w
        .stack
        .process(&plan::app_name("products", 0))
        .expect("products-0")
        .clone();
    let load_started = Instant::now() - Duration::from_secs(5);
    victim.kill();
    let killed_at = Instant::now();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let deadline = killed_at + Duration::from_secs(15);
        let eject_time = loop {
            if ejected() > 0 {
                break killed_at.elapsed().as_secs_f64();
            }
            assert!(
                Instant::now() < deadline,
                "no caller ejected the dead replica within 15 s"
            );
            thread::sleep(Duration::from_millis(20));
        };
        let report = background.join().expect("load");
        let kill_offset = killed_at.duration_since(load_started).as_secs_f64();
        let during: Vec<_> = report
            .samples
            .iter()
            .filter(|s| s.at >= kill_offset)
            .collect();
        let failed: Vec<_> = during.iter().filter(|s| s.failed()).collect();
        let last_failure = failed
            .iter()
            .map(|s| s.at - kill_offset)
            .fold(0.0, f64::max);
        eprintln!(
            "  FIGURE time to eject the dead replica: {:.3} s (first caller)",
            eject_time
        );
        eprintln!(
            "  FIGURE failed during the event: {} of {} ({:.2}%), none failed after {:.2} s",
            failed.len(),
            during.len(),
            100.0 * failed.len() as f64 / during.len().max(1) as f64,
            last_failure
        );
        let failed_gets: Vec<_> = failed
            .iter()
            .filter(|s| s.what.starts_with("GET"))
            .collect();
        assert!(
            failed_gets.is_empty(),
            "GETs failed although they are retried: {failed_gets:?}"
        );
    }));
    // Whatever happened, the replica comes back for the scenarios after this one.
    w.stack
        .revive(&plan::app_name("products", 0))
        .expect("restarted");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    // Back in rotation: healthy, no longer ejected (base ejection time 30 s), and serving.
    let deadline = Instant::now() + Duration::from_secs(90);
    while ejected() > 0 || !w.stack.healthy_in_callers("products", 0) {
        assert!(
            Instant::now() < deadline,
            "products-0 never came back into rotation"
        );
        thread::sleep(Duration::from_millis(250));
    }
    let port = w
        .stack
        .plan
        .ports
        .app(catalog::service("products").expect("products"), 0);
    let served = |port: u16| -> f64 {
        let metrics = http::get(port, "/metrics")
            .map(|a| a.body)
            .unwrap_or_default();
        metrics
            .lines()
            .filter(|l| l.starts_with("http_requests_total") && l.contains("/v1/products"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let before = served(port);
    load_in_background(w, 4).join().expect("load");
    assert!(
        served(port) > before,
        "products-0 got no requests after it came back"
    );
}

/// Test 3: Past orders' connection pool, a client's sidecar answers 503 at once (Envoy's
/// overflow), the overflow counters move, and no POST without an Idempotency-Key runs
/// twice: the orders in the database are exactly the 201s.
fn circuit_breaker(w: &mut World) {
    let ns = w.stack.plan.env.namespace.clone();
    let cart = catalog::service("cart").expect("cart");
    let users = catalog::service("users").expect("users");
    let via = w.stack.plan.ports.outbound(cart, 0, "orders");
    let admin = w.stack.plan.ports.sidecar_admin(cart, 0);
    let orders = cluster("orders", &ns);
    let overflow = |n: &str| envoy_stat(admin, &format!("cluster.{orders};.{n}"));
    let before = overflow("upstream_rq_pending_overflow") + overflow("upstream_cx_overflow");
    let email = format!("cb-{}@example.com", std::process::id());
    let user = http::request(
        w.stack.plan.ports.app(users, 0),
        "POST",
        "/v1/users",
        Some((
            "application/json",
            &format!(r#"{{"email":"{email}","name":"Breaker"}}"#),
        )),
    )
    .expect("user created");
    assert_eq!(user.status, 201, "{}", user.body);
    let user_id = serde_json::from_str::<Value>(&user.body).expect("JSON")["id"]
        .as_u64()
        .expect("id");
    let product = first_product(w);
    let body =
        format!(r#"{{"user_id":{user_id},"items":[{{"product_id":{product},"quantity":1}}]}}"#);
    // 60 simultaneous POSTs from one client pod: 4 connections + 2 pending admitted.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let results: Vec<(u16, bool, f64)> = runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut tasks = Vec::new();
        for _ in 0..60 {
            let client = client.clone();
            let body = body.clone();
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                match client
                    .post(format!("http://127.0.0.1:{via}/v1/orders"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(a) => (
                        a.status().as_u16(),
                        a.headers().contains_key("x-envoy-overloaded"),
                        t.elapsed().as_secs_f64(),
                    ),
                    Err(_) => (0, false, t.elapsed().as_secs_f64()),
                }
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    });
    let created = results.iter().filter(|r| r.0 == 201).count();
    let refused: Vec<_> = results.iter().filter(|r| r.0 == 503 && r.1).collect();
    let mut refused_ms: Vec<f64> = refused.iter().map(|r| r.2 * 1000.0).collect();
    refused_ms.sort_by(f64::total_cmp);
    let mut admitted_ms: Vec<f64> = results
        .iter()
        .filter(|r| r.0 == 201)
        .map(|r| r.2 * 1000.0)
        .collect();
    admitted_ms.sort_by(f64::total_cmp);
    eprintln!(
        "  {created} created, {} refused by the circuit breaker; refused answered in {:.1}-{:.1} ms, admitted in {:.1}-{:.1} ms",
        refused.len(),
        refused_ms.first().unwrap_or(&0.0),
        refused_ms.last().unwrap_or(&0.0),
        admitted_ms.first().unwrap_or(&0.0),
        admitted_ms.last().unwrap_or(&0.0),
    );
    assert!(created > 0, "no order was admitted: {results:?}");
    assert!(!refused.is_empty(), "nothing overflowed: {results:?}");
    assert_eq!(
        created + refused.len(),
        results.len(),
        "other answers: {results:?}"
    );
    let after = overflow("upstream_rq_pending_overflow") + overflow("upstream_cx_overflow");
    assert!(
        after >= before + refused.len() as u64,
        "overflow counters {before} -> {after}"
    );
    let count = mysql_count(
        "kst_stack_e2e_orders",
        &format!("SELECT COUNT(*) FROM orders WHERE user_id = {user_id}"),
    );
    assert_eq!(
        count, created as u64,
        "orders in the database vs 201 answers"
    );
}

fn first_product(w: &World) -> u64 {
    let products = catalog::service("products").expect("products");
    let list =
        http::get(w.stack.plan.ports.app(products, 0), "/v1/products?limit=1").expect("products");
    let v: Value = serde_json::from_str(&list.body).expect("JSON");
    v["items"][0]["id"]
        .as_u64()
        .or_else(|| v[0]["id"].as_u64())
        .unwrap_or_else(|| panic!("no product: {}", list.body))
}

fn mysql_count(database: &str, sql: &str) -> u64 {
    let out = std::process::Command::new("mariadb")
        .args(["-uroot", "-h127.0.0.1", "-N", "-B", database, "-e", sql])
        .output()
        .expect("the mariadb client runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a count")
}

/// Test 6: A rolling restart of the frontend and of products under load: not one request
/// through the ingress fails.
fn zero_downtime_rollout(w: &mut World) {
    let drain: u64 = ["frontend", "products"]
        .iter()
        .filter_map(|s| w.stack.plan.env.service(s))
        .map(|s| u64::from(REPLICAS) * (s.drain.millis() / 1000 + 4))
        .sum();
    // Long enough to cover both rolling restarts.
    let background = load_in_background(w, drain + 4);
    thread::sleep(Duration::from_secs(2));
    let t = Instant::now();
    w.stack.restart("frontend").expect("frontend restarted");
    w.stack.restart("products").expect("products restarted");
    eprintln!(
        "  rolling restart of frontend and products took {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let report = background.join().expect("load");
    let failed: Vec<_> = report.failures().collect();
    eprintln!(
        "  {} requests, {} failed",
        report.samples.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "failed during the rollout: {failed:?}");
}

/// One HTTP/1.1 message (head and Content-Length body) from `stream`, or None at EOF.
fn read_message(stream: &mut std::net::TcpStream) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..i]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while raw.len() < i + 4 + length {
                let n = stream.read(&mut buf).ok()?;
                if n == 0 {
                    return None;
                }
                raw.extend_from_slice(&buf[..n]);
            }
            return Some(raw);
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

/// A relay in front of a cart replica that lets the first checkout reach the replica and
/// then cuts the caller's connection instead of passing the answer on: the order exists,
/// the cart is emptied, and the caller never heard. Returns the answer it swallowed.
fn checkout_cutter(
    listen: TcpListener,
    upstream: u16,
    stop: Arc<AtomicBool>,
) -> Arc<Mutex<Option<String>>> {
    let swallowed = Arc::new(Mutex::new(None::<String>));
    let record = swallowed.clone();
    thread::spawn(move || {
        for downstream in listen.incoming().flatten() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let record = record.clone();
            thread::spawn(move || {
                let mut downstream = downstream;
                let Ok(mut up) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                while let Some(request) = read_message(&mut downstream) {
                    if up.write_all(&request).is_err() {
                        return;
                    }
                    let Some(answer) = read_message(&mut up) else {
                        return;
                    };
                    let checkout = String::from_utf8_lossy(&request[..request.len().min(200)])
                        .contains("/checkout");
                    let mut seen = record.lock().expect("lock");
                    if checkout && seen.is_none() {
                        *seen = Some(String::from_utf8_lossy(&answer).into_owned());
                        // Close without a word: the caller gets no answer at all.
                        let _ = downstream.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                    drop(seen);
                    if downstream.write_all(&answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    swallowed
}

fn json_body(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or(answer, |(_, b)| b);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// Test 4: retries are safe. (a) An abort fault on half of products' catalogue calls:
/// Istio does not retry a fault its own sidecar injected (it is a local reply ahead of
/// the router), but the ingress retries the idempotent page, so pages still come through
/// far more often than the calls behind them. (b) A checkout whose answer is lost after
/// the order was made and the cart emptied: the mesh retries the keyed checkout and the
/// customer gets that same order; no second order exists.
fn retries_are_safe(w: &mut World) {
    let t0 = Instant::now();
    let step = |what: &str| eprintln!("  [{:.1} s] {what}", t0.elapsed().as_secs_f64());
    // (a)
    set_experiments(
        w,
        "  experiments:\n    - {name: flaky-catalogue, service: products, route: /v1/products, abort: {status: 503, percent: 50}}\n",
    );
    let frontend = catalog::service("frontend").expect("frontend");
    let direct = w.stack.plan.ports.outbound(frontend, 0, "products");
    let mut aborted = 0;
    for _ in 0..200 {
        let a = http::get(direct, "/v1/products?limit=5").expect("the sidecar answers");
        if a.status == 503 {
            aborted += 1;
        }
    }
    step("direct calls done");
    let report = load_in_background(w, 10).join().expect("load");
    restore_environment(w);
    step("fault removed");
    let gets: Vec<_> = report
        .samples
        .iter()
        .filter(|s| s.what == "GET /")
        .collect();
    let failed = gets.iter().filter(|s| s.failed()).count();
    let share = failed as f64 / gets.len().max(1) as f64;
    eprintln!(
        "  calls to products aborted by the fault: {aborted} of 200; catalogue pages through the ingress failed: {failed} of {} ({:.1}%)",
        gets.len(),
        100.0 * share
    );
    assert!(
        (60..=140).contains(&aborted),
        "the fault hits about half: {aborted}"
    );
    // Three attempts at 50% each: 12.5% expected.
    assert!(
        share < 0.25,
        "page retries did not recover: {:.1}% failed",
        100.0 * share
    );

    // (b)
    let cart = catalog::service("cart").expect("cart");
    let users = catalog::service("users").expect("users");
    let cart_port = w.stack.plan.ports.app(cart, 0);
    let victim = w
        .stack
        .process(&plan::app_name("cart", 0))
        .expect("cart-0")
        .clone();
    victim.stop(Duration::from_secs(15));
    step("cart-0 stopped");
    let behind = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let behind_port = behind.local_addr().expect("addr").port();
    drop(behind);
    let mut spec = w.stack.plan.app_spec("cart", 0);
    spec.name = "cart-0-behind-cutter".into();
    spec.env.retain(|(k, _)| k != "LISTEN_ADDR");
    spec.env
        .push(("LISTEN_ADDR".into(), format!("127.0.0.1:{behind_port}")));
    spec.probe.port = behind_port;
    let hidden = kubestore_stack::procs::spawn(&spec).expect("cart behind the cutter");
    let stop = Arc::new(AtomicBool::new(false));
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        hidden.wait_ready(Duration::from_secs(30)).expect("ready");
        let listen = TcpListener::bind(("127.0.0.1", cart_port)).expect("cart-0's port");
        let swallowed = checkout_cutter(listen, behind_port, stop.clone());
        let deadline = Instant::now() + Duration::from_secs(30);
        while !w.stack.healthy_in_callers("cart", 0) {
            assert!(
                Instant::now() < deadline,
                "cart-0 behind the cutter never became healthy"
            );
            thread::sleep(Duration::from_millis(100));
        }
        let email = format!("cut-{}@example.com", std::process::id());
        let user = http::request(
            w.stack.plan.ports.app(users, 0),
            "POST",
            "/v1/users",
            Some((
                "application/json",
                &format!(r#"{{"email":"{email}","name":"Cut"}}"#),
            )),
        )
        .expect("user");
        let user_id = serde_json::from_str::<Value>(&user.body).unwrap_or_default()["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("no user: {}", user.body));
        let product = first_product(w);
        let via = w.stack.plan.ports.outbound(frontend, 0, "cart");
        // The balancer picks either replica: check out fresh carts until one checkout
        // went through the cutter.
        let mut checkouts = 0u64;
        let mut cut = None;
        for attempt in 0..20 {
            let id = format!("cut-{}-{attempt}", std::process::id());
            let put = http::request(
                via,
                "PUT",
                &format!("/v1/carts/{id}/items/{product}"),
                Some(("application/json", r#"{"quantity":1}"#)),
            )
            .expect("item added");
            assert_eq!(put.status, 200, "{}", put.body);
            let (status, body) = request_with_key(
                via,
                &format!("/v1/carts/{id}/checkout"),
                &format!("key-{id}"),
                &format!(r#"{{"user_id":{user_id}}}"#),
            );
            checkouts += 1;
            assert_eq!(
                status, 201,
                "the customer was told the checkout failed: {body}"
            );
            if let Some(lost) = swallowed.lock().expect("lock").clone() {
                let answered: Value = serde_json::from_str(&body).unwrap_or_default();
                cut = Some((json_body(&lost)["id"].clone(), answered["id"].clone(), id));
                break;
            }
        }
        let (lost_id, answered_id, id) = cut.expect("no checkout went through the cutter");
        eprintln!(
            "  the lost answer held order {lost_id}; the mesh's retry answered order {answered_id}"
        );
        assert!(lost_id.is_u64(), "the cut checkout made no order");
        assert_eq!(lost_id, answered_id, "the retry made another order");
        let cart_now = http::get(via, &format!("/v1/carts/{id}")).expect("cart");
        assert!(
            cart_now.body.contains(r#""items":[]"#),
            "the cart was not emptied: {}",
            cart_now.body
        );
        let orders = mysql_count(
            "kst_stack_e2e_orders",
            &format!("SELECT COUNT(*) FROM orders WHERE user_id = {user_id}"),
        );
        assert_eq!(
            orders, checkouts,
            "one order per checkout, the cut one included"
        );
    }));
    step("checkouts done");
    stop.store(true, Ordering::Relaxed);
    let _ = std::net::TcpStream::connect(("127.0.0.1", cart_port));
    hidden.stop(Duration::from_secs(15));
    step("hidden cart stopped");
    thread::sleep(Duration::from_millis(200));
    w.stack
        .revive(&plan::app_name("cart", 0))
        .expect("cart-0 back");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !w.stack.healthy_in_callers("cart", 0) {
        assert!(Instant::now() < deadline, "cart-0 did not come back");
        thread::sleep(Duration::from_millis(100));
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// `POST path` with an Idempotency-Key and a JSON body: (status, body).
fn request_with_key(port: u16, path: &str, key: &str, body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nIdempotency-Key: {key}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("sent");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// An OpenSLO document for a service that has never had a request.
const NO_TRAFFIC_SLO: &str = "apiVersion: openslo/v1
kind: SLO
metadata:
  name: search-availability
spec:
  service: search
  indicator:
    metadata:
      name: search-availability-sli
    spec:
      ratioMetric:
        counter: true
        bad:
          metricSource:
            type: Prometheus
            spec:
              query: sum(http_requests_total{service=\"search\",status=~\"5..\"})
        total:
          metricSource:
            type: Prometheus
            spec:
              query: sum(http_requests_total{service=\"search\"})
  timeWindow:
    - duration: 7d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.99
";

/// Test 7: slo-check live: a service without traffic is exit 4, a stopped Prometheus exit 3.
fn slo_check_hard_cases(w: &mut World) {
    let dir = w
        .env_file
        .parent()
        .and_then(Path::parent)
        .expect("the run folder");
    let slo = dir.join("no-traffic-slo.yaml");
    std::fs::write(&slo, NO_TRAFFIC_SLO).expect("written");
    let prometheus = w.stack.plan.prometheus_url();
    let slo_arg = slo.display().to_string();
    let args = ["--slos", &slo_arg, "--window", "5m"].map(String::from);
    let verdict = slo_check(&prometheus, &args);
    assert_eq!(verdict.code, 4, "no traffic: {}", verdict.report);
    assert_eq!(verdict.report["slos"][0]["verdict"], "no_data");

    w.stack
        .process(plan::PROMETHEUS)
        .expect("prometheus runs")
        .stop(Duration::from_secs(10));
    let verdict = slo_check(&prometheus, &env_args(w, ["--window", "1m"]));
    assert_eq!(verdict.code, 3, "Prometheus stopped: {}", verdict.report);
}
