//! What the slo-check tests share: a known history of the store's series, a real
//! Prometheus (blocks built by promtool) or VictoriaMetrics loaded with it, a small HTTP
//! proxy in front of them that fails, garbles or demands credentials, and the binary.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kubestore_core::metrics::{REQUEST_DURATION, REQUESTS};

pub const NS: &str = "kubestore-dev";
pub const STEP: i64 = 15;

/// The evaluation time of the known history: a whole minute 40 minutes ago, so the
/// history (3h before it, 30m after) lies within every server's retention.
pub fn at() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (now / 60) * 60 - 40 * 60
}

pub struct Series {
    family: &'static str,
    name: String,
    labels: Vec<(String, String)>,
    points: Vec<(i64, f64)>,
}

/// Per sample: (total, bad, faster than 0.5s, faster than 1s) requests since the last one.
type Traffic<'a> = dyn Fn(i64) -> Option<(f64, f64, f64, f64)> + 'a;

/// The history every test reads, relative to `at`:
/// - orders: two pods at 20 req/s each; a 0.5% error burst over (at-8m, at-3m]; pod b
///   restarts at at-5m (its counters start again from 0); 98% faster than 0.5s;
/// - users: 10 req/s, 0.1% errors, 97% faster than 0.5s, 99% faster than 1s;
/// - frontend: 10 req/s, no errors (no 5xx series at all), 99% faster than 1s;
/// - products: 20 requests per 10 minutes, no errors;
/// - cart: series present, no traffic;
/// - search: 5 req/s until at-60m, then gone.
pub fn history(at: i64) -> Vec<Series> {
    let start = at - 3 * 3600;
    let end = at + 30 * 60;
    let burst = move |t: i64| t > at - 480 && t <= at - 180;
    let mut out = Vec::new();
    let mut add = |service: &str, pod: &str, reset: Option<i64>, traffic: &Traffic| {
        let base = vec![
            ("namespace".to_owned(), NS.to_owned()),
            ("service".to_owned(), service.to_owned()),
            ("pod".to_owned(), format!("{service}-{pod}")),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut l = base.clone();
            l.extend(
                extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            );
            l
        };
        let series = |family: &'static str, suffix: &str, labels| Series {
            family,
            name: format!("{family}{suffix}"),
            labels,
            points: vec![],
        };
        let mut ok = series(REQUESTS, "_total", with(&[("status", "200")]));
        let mut bad = series(REQUESTS, "_total", with(&[("status", "500")]));
        let mut b05 = series(REQUEST_DURATION, "_bucket", with(&[("le", "0.5")]));
        let mut b1 = series(REQUEST_DURATION, "_bucket", with(&[("le", "1.0")]));
        let mut binf = series(REQUEST_DURATION, "_bucket", with(&[("le", "+Inf")]));
        let mut count = series(REQUEST_DURATION, "_count", base.clone());
        let mut sum = series(REQUEST_DURATION, "_sum", base.clone());
        let mut v = [0.0f64; 7];
        let mut has_bad = false;
        let mut t = start;
        while t <= end {
            let Some((total, errors, fast, fast1)) = (if t == start {
                Some((0.0, 0.0, 0.0, 0.0))
            } else {
                traffic(t)
            }) else {
                t += STEP;
                continue;
            };
            has_bad |= errors > 0.0;
            let inc = [
                total - errors,
                errors,
                fast,
                fast1,
                total,
                total,
                total * 0.1,
            ];
            if reset == Some(t) {
                v = inc;
            } else {
                for (a, b) in v.iter_mut().zip(inc) {
                    *a += b;
                }
            }
            for (s, value) in [
                &mut ok, &mut bad, &mut b05, &mut b1, &mut binf, &mut count, &mut sum,
            ]
            .into_iter()
            .zip(v)
            {
                s.points.push((t, value));
            }
            t += STEP;
        }
        out.push(ok);
        if has_bad {
            out.push(bad);
        }
        out.extend([b05, b1, binf, count, sum]);
    };
    let orders = move |t: i64| Some((300.0, if burst(t) { 1.5 } else { 0.0 }, 294.0, 297.0));
    add("orders", "a", None, &orders);
    add("orders", "b", Some(at - 300), &orders);
    add("users", "a", None, &|_| Some((150.0, 0.15, 145.5, 148.5)));
    add("frontend", "a", None, &|_| Some((150.0, 0.0, 147.0, 148.5)));
    add("products", "a", None, &|_| Some((0.5, 0.0, 0.5, 0.5)));
    add("cart", "a", None, &|_| Some((0.0, 0.0, 0.0, 0.0)));
    add("search", "a", None, &move |t| {
        (t <= at - 3600).then_some((75.0, 0.0, 75.0, 75.0))
    });
    // `orders` has a 5xx series only because of the burst; users' errors start at once.
    out
}

fn labels(l: &[(String, String)]) -> String {
    let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    parts.join(",")
}

/// The history as OpenMetrics text (timestamps in seconds), for promtool.
pub fn openmetrics(series: &[Series]) -> String {
    let mut out = String::new();
    for family in [REQUESTS, REQUEST_DURATION] {
        let kind = if family == REQUESTS {
            "counter"
        } else {
            "histogram"
        };
        writeln!(out, "# TYPE {family} {kind}").unwrap();
        for s in series.iter().filter(|s| s.family == family) {
            for (t, v) in &s.points {
                writeln!(out, "{}{{{}}} {v} {t}", s.name, labels(&s.labels)).unwrap();
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The history in the Prometheus text format (timestamps in milliseconds), for
/// VictoriaMetrics' import API.
pub fn prometheus_text(series: &[Series]) -> String {
    let mut out = String::new();
    for s in series {
        for (t, v) in &s.points {
            writeln!(out, "{}{{{}}} {v} {}", s.name, labels(&s.labels), t * 1000).unwrap();
        }
    }
    out
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_ok(url: &str, limit: Duration) {
    let started = Instant::now();
    loop {
        if let Ok(r) = http::get_ok(url)
            && r
        {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{url} did not answer within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A tiny blocking GET without pulling in another HTTP client.
mod http {
    use std::io::{Read, Write};
    pub fn get_ok(url: &str) -> std::io::Result<bool> {
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let mut s = std::net::TcpStream::connect(host)?;
        write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        Ok(buf.starts_with("HTTP/1.1 200") || buf.starts_with("HTTP/1.0 200"))
    }
}

/// A server started by a test, stopped by its pid when dropped.
pub struct Server {
    pub url: String,
    pub port: u16,
    child: Option<Child>,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Stops it now.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Prometheus on a free port, serving blocks promtool built from the history.
pub fn prometheus(at: i64) -> Server {
    prometheus_with(at, "")
}

/// Prometheus serving the history and `extra`, more OpenMetrics families (no `# EOF`).
pub fn prometheus_with(at: i64, extra: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("history.om");
    let text = openmetrics(&history(at));
    let text = format!("{}{extra}# EOF\n", text.trim_end_matches("# EOF\n"));
    std::fs::write(&input, text).unwrap();
    let data = dir.path().join("data");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&data)
        .output()
        .expect("promtool is installed (scripts/install-test-deps.sh)");
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start_prometheus(dir, &data, None)
}

/// Prometheus serving the history over TLS with `web_config`.
pub fn prometheus_tls(at: i64, web_config: &Path) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("history.om");
    std::fs::write(&input, openmetrics(&history(at))).unwrap();
    let data = dir.path().join("data");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start_prometheus(dir, &data, Some(web_config))
}

/// Starts Prometheus on `data`, with a web config (TLS) when given.
pub fn start_prometheus(dir: tempfile::TempDir, data: &Path, web_config: Option<&Path>) -> Server {
    start_prometheus_with(
        dir,
        data,
        web_config,
        "global: {scrape_interval: 15s}\n",
        &[],
    )
}

/// Prometheus scraping `target` (`127.0.0.1:port`) every second, with native histograms.
pub fn prometheus_scraping(target: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: app\n    static_configs: [{{targets: ['{target}']}}]\n"
    );
    start_prometheus_with(
        dir,
        &data,
        None,
        &config,
        &["--enable-feature=native-histograms"],
    )
}

/// Starts Prometheus on `data` with the configuration `config` and extra flags.
pub fn start_prometheus_with(
    dir: tempfile::TempDir,
    data: &Path,
    web_config: Option<&Path>,
    config: &str,
    flags: &[&str],
) -> Server {
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(&config_file, config).unwrap();
    let port = free_port();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", config_file.display()))
        .args(flags)
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=10y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(w) = web_config {
        cmd.arg(format!("--web.config.file={}", w.display()));
    }
    let child = cmd
        .spawn()
        .expect("prometheus is installed (scripts/install-test-deps.sh)");
    let scheme = if web_config.is_some() {
        "https"
    } else {
        "http"
    };
    let server = Server {
        url: format!("{scheme}://127.0.0.1:{port}"),
        port,
        child: Some(child),
        dir,
    };
    if web_config.is_none() {
        wait_ok(
            &format!("http://127.0.0.1:{port}/-/ready"),
            Duration::from_secs(60),
        );
    } else {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "TLS Prometheus did not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    server
}

/// VictoriaMetrics on a free port, with the history imported.
pub fn victoria(at: Option<i64>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("victoria-metrics")
        .arg(format!(
            "-storageDataPath={}",
            dir.path().join("vm").display()
        ))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-retentionPeriod=10y")
        .arg("-search.latencyOffset=0s")
        .arg("-search.disableCache")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("victoria-metrics is installed (scripts/install-test-deps.sh)");
    let server = Server {
        url: format!("http://127.0.0.1:{port}"),
        port,
        child: Some(child),
        dir,
    };
    wait_ok(
        &format!("http://127.0.0.1:{port}/health"),
        Duration::from_secs(60),
    );
    if let Some(at) = at {
        import(&server, &prometheus_text(&history(at)));
    }
    server
}

/// Imports Prometheus text into VictoriaMetrics and makes it searchable.
pub fn import(server: &Server, text: &str) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(
        s,
        "POST /api/v1/import/prometheus HTTP/1.0\r\nHost: x\r\nContent-Length: {}\r\n\r\n{text}",
        text.len()
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let status = buf.split_whitespace().nth(1).unwrap_or("");
    assert!(status == "204" || status == "200", "import: {buf}");
    wait_ok(
        &format!("http://127.0.0.1:{}/internal/force_flush", server.port),
        Duration::from_secs(10),
    );
}

/// Runs slo-check with `args`.
pub fn slo_check(args: &[&str]) -> Output {
    slo_check_env(args, &[])
}

/// One evaluation of `slos` against `prometheus` at `at`, with `rest` after those flags.
pub fn slo_check_at(slos: &str, prometheus: &str, at: &str, rest: &[&str]) -> Output {
    let mut args = vec!["--slos", slos, "--prometheus", prometheus, "--at", at];
    args.extend_from_slice(rest);
    slo_check(&args)
}

pub fn slo_check_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slo-check"));
    cmd.args(args)
        .env_remove("PROMETHEUS_URL")
        .env_remove("PROMETHEUS_PASSWORD")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Writes a hand-written OpenSLO `SLO` with a Prometheus ratio (`bad` or `good`, the
/// numerator query, the total query) into `dir`.
pub fn openslo(
    dir: &Path,
    name: &str,
    service: &str,
    objective: f64,
    period: &str,
    (side, numerator, total): (&str, &str, &str),
) {
    let doc = format!(
        "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: {name}\nspec:\n  service: {service}\n  indicator:\n    metadata: {{name: {name}-sli}}\n    spec:\n      ratioMetric:\n        counter: true\n        {side}:\n          metricSource:\n            type: Prometheus\n            spec:\n              query: '{numerator}'\n        total:\n          metricSource:\n            type: Prometheus\n            spec:\n              query: '{total}'\n  timeWindow:\n    - duration: {period}\n      isRolling: true\n  budgetingMethod: Occurrences\n  objectives:\n    - target: {objective}\n"
    );
    std::fs::write(dir.join(format!("{name}.yaml")), doc).unwrap();
}

/// The hand-written SLOs of the tests: strict objectives on orders and users over 1d.
pub fn strict(dir: &Path) {
    let bad = |s: &str| {
        format!("sum(http_requests_total{{namespace=\"{NS}\",service=\"{s}\",status=~\"5..\"}})")
    };
    let total = |s: &str| format!("sum(http_requests_total{{namespace=\"{NS}\",service=\"{s}\"}})");
    openslo(
        dir,
        "orders-availability-strict",
        "orders",
        0.999,
        "1d",
        ("bad", &bad("orders"), &total("orders")),
    );
    openslo(
        dir,
        "users-availability-strict",
        "users",
        0.998,
        "1d",
        ("bad", &bad("users"), &total("users")),
    );
}

/// Finds the SLO named `name` in a JSON report.
pub fn slo<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no SLO {name} in {report:#}"))
}

/// Asserts an SLO's SLI, error ratio, burn rate and budget left to 4 decimals.
pub fn numbers(s: &serde_json::Value, name: &str, sli: f64, burn: f64, budget: f64) {
    near(&s["sli"], sli, &format!("{name} sli"));
    near(&s["error_ratio"], 1.0 - sli, &format!("{name} error_ratio"));
    near(&s["burn_rate"], burn, &format!("{name} burn_rate"));
    near(
        &s["budget_remaining"],
        budget,
        &format!("{name} budget_remaining"),
    );
}

/// Asserts that two reports, from Prometheus and another server, agree on every SLO of
/// the first: verdicts, and numbers to 4 decimals (`null` where the first has `null`).
pub fn agree(first: &serde_json::Value, other: &serde_json::Value, server: &str) {
    for s in first["slos"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let o = slo(other, name);
        assert_eq!(s["verdict"], o["verdict"], "{name}: {s:#} vs {o:#}");
        for key in [
            "sli",
            "error_ratio",
            "burn_rate",
            "budget_remaining",
            "requests",
        ] {
            match s[key].as_f64() {
                Some(x) => near(&o[key], x, &format!("{name} {key} on {server}")),
                None => assert!(o[key].is_null(), "{name} {key}: {o:#}"),
            }
        }
    }
}

/// Asserts a JSON number to 4 decimals.
pub fn near(v: &serde_json::Value, expected: f64, what: &str) {
    let got = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {v} is not a number"));
    assert!((got - expected).abs() < 5e-5, "{what}: {got} != {expected}");
}

/// A proxy in front of a real server; the first path segment picks what it does:
/// `/ok` forwards, `/fail-once` answers 500 to the first query then forwards,
/// `/always-500` always answers 500, `/garbage` answers 200 with HTML, `/partial`
/// forwards and marks the answer partial the way Thanos does (a warning), `/bearer`,
/// `/basic` and `/tenant` forward only with `Bearer s3cret`, `user:pa55` or
/// `X-Scope-OrgID: shop`; `/slow` answers after 3s, `/busy-once` answers 429 with
/// `Retry-After: 1` to the first query, `/bad-data` answers 400 `bad_data`.
pub struct Proxy {
    pub url: String,
    hits: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Proxy {
    /// Requests received under `/mode`.
    pub fn hits(&self, mode: &str) -> usize {
        self.hits.lock().unwrap().get(mode).copied().unwrap_or(0)
    }
}

pub fn proxy(upstream: &str) -> Proxy {
    use axum::body::Bytes;
    use axum::extract::{Path as UrlPath, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Clone)]
    struct St {
        upstream: String,
        failed_once: Arc<AtomicBool>,
        busy_once: Arc<AtomicBool>,
        hits: Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>,
        http: ::reqwest::Client,
    }
    async fn handle(
        State(st): State<St>,
        UrlPath((mode, endpoint)): UrlPath<(String, String)>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let header = |k: &str| {
            headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let denied = (StatusCode::UNAUTHORIZED, "unauthorized").into_response();
        *st.hits.lock().unwrap().entry(mode.clone()).or_default() += 1;
        match mode.as_str() {
            "slow" => tokio::time::sleep(std::time::Duration::from_secs(3)).await,
            "busy-once" if !st.busy_once.swap(true, Ordering::SeqCst) => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "1")],
                    "slow down",
                )
                    .into_response();
            }
            "bad-data" => {
                let body = serde_json::json!({"status": "error", "errorType": "bad_data", "error": "1:1: parse error"});
                return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
            }
            "always-500" => return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
            "garbage" => return (StatusCode::OK, "<html>not an API</html>").into_response(),
            "fail-once" if !st.failed_once.swap(true, Ordering::SeqCst) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, "first try fails").into_response();
            }
            "bearer" if header("authorization") != "Bearer s3cret" => return denied,
            // user:pa55
            "basic" if header("authorization") != "Basic dXNlcjpwYTU1" => return denied,
            "tenant" if header("x-scope-orgid") != "shop" => return denied,
            _ => {}
        }
        let answer = st
            .http
            .post(format!("{}/api/v1/{endpoint}", st.upstream))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let mut json: serde_json::Value = answer.json().await.unwrap();
        if mode == "partial" {
            json["warnings"] =
                serde_json::json!(["partial response: store 10.0.0.7:10901 unavailable"]);
        }
        (StatusCode::from_u16(status).unwrap(), axum::Json(json)).into_response()
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let st = St {
        upstream: upstream.to_owned(),
        failed_once: Arc::new(AtomicBool::new(false)),
        busy_once: Arc::new(AtomicBool::new(false)),
        hits: hits.clone(),
        http: ::reqwest::Client::new(),
    };
    let app = axum::Router::new()
        .route("/{mode}/api/v1/{endpoint}", axum::routing::post(handle))
        .with_state(st);
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Proxy {
        url,
        hits,
        _runtime: runtime,
    }
}
