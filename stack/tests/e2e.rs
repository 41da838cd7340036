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

mod support;
use support::{
    CutCheckout, SLO_CHECK, bin_dir, first_product, keyed_checkout_until_cut, mysql_count, repo,
    with_checkout_answers_lost,
};

/// Port plan of the tests: away from a developer's `scripts/stack up` (20000).
const PORT_BASE: u16 = 24000;
/// Load of every scenario, requests per second through the ingress.
const RATE: u32 = 40;
/// Load during the failover scenario: enough that every caller meets the dead replica.
const FAILOVER_RATE: u32 = 160;

type Scenario = support::Scenario<World>;

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
    support::run_scenarios("e2e", scenarios, setup, |w: &mut World| &mut w.stack)
}

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

/// An instant query's result vector.
fn query(w: &World, q: &str) -> Vec<Value> {
    let answer = http::get(
        w.stack.plan.ports.prometheus(),
        &format!("/api/v1/query?query={}", http::encode(q)),
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
            http::encode(&format!("^{}$", regex_escape(name)))
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
    let product = first_product(&w.stack);
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
    let via = w.stack.plan.ports.outbound(frontend, 0, "cart");
    with_checkout_answers_lost(&mut w.stack, |stack, swallowed, user_id| {
        let product = first_product(stack);
        // The balancer picks either replica.
        let CutCheckout {
            lost: lost_id,
            answered: answered_id,
            cart: id,
            checkouts,
        } = keyed_checkout_until_cut(via, product, user_id, swallowed, "cut", 20);
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
    });
    step("checkouts done, cart-0 back");
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
