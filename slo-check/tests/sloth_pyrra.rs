//! Sloth and Pyrra SLOs (`tests/fixtures/sloth/`, `tests/fixtures/pyrra/`) against a real
//! Prometheus and VictoriaMetrics holding the known history (support::history) and a
//! probe gauge, and against native histograms Prometheus scrapes: every number to 4
//! decimals, worked out by hand below, every verdict and exit code, `--explain`, and
//! every refusal by its exact message.

mod support;

use std::fmt::Write as _;

use support::*;

fn fixtures(format: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format)
        .display()
        .to_string()
}

/// `probe_success{target="shop"}`, a 0/1 gauge for Pyrra's `bool_gauge`: one sample every
/// 15s from at-10793s (7s off the request counters, so no sample sits on a window's
/// edge) to at+30m, all 1 but the two at at-293s and at-278s.
fn probe(at: i64) -> Vec<(i64, u8)> {
    (0..)
        .map(|k| at - 10_793 + 15 * k)
        .take_while(|t| *t <= at + 1800)
        .map(|t| (t, u8::from(t != at - 293 && t != at - 278)))
        .collect()
}

fn probe_openmetrics(at: i64) -> String {
    let mut out = String::from("# TYPE probe_success gauge\n");
    for (t, v) in probe(at) {
        writeln!(
            out,
            "probe_success{{namespace=\"{NS}\",target=\"shop\"}} {v} {t}"
        )
        .unwrap();
    }
    out
}

fn probe_prometheus_text(at: i64) -> String {
    let mut out = String::new();
    for (t, v) in probe(at) {
        writeln!(
            out,
            "probe_success{{namespace=\"{NS}\",target=\"shop\"}} {v} {}",
            t * 1000
        )
        .unwrap();
    }
    out
}

/// Both fixture folders in one, as a repository mixing the two would be.
fn both() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for format in ["sloth", "pyrra"] {
        let to = dir.path().join(format);
        std::fs::create_dir(&to).unwrap();
        for f in std::fs::read_dir(fixtures(format)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    dir
}

// The history over the 10m window ending at `at` (Prometheus 2 selects [at-10m, at]):
// - orders: pods a and b, 300 requests per 15s each: 40 steps x 300 x 2 = 24000
//   requests; 1.5 errors per step per pod over (at-8m, at-3m], 20 steps: 60 errors. Pod b
//   restarts at at-5m, inside the window: its counters fall back to that step's 300 and
//   1.5, and `increase` counts them as new events, so pod b still counts 12000 and 30.
//   A Sloth `sum(rate(...[{{.window}}]))` read as a rate would say 40/s; slo-check counts
//   24000 requests, 40/s over 600s.
//   SLI 1 - 60/24000 = 0.9975, error ratio 0.0025.
//   Over any period of at least 3h (all the history before `at`): 2 x 720 steps x 300 =
//   432000 requests, the same 60 errors: error ratio 60/432000 = 0.000138889.
// - users: 150 requests per 15s, 0.15 errors (0.1%), 145.5 faster than 0.5s (97%):
//   6000 requests over 10m, SLI 0.999 (availability), 0.97 (latency); the same ratios
//   over any period.
// - probe_success: 40 samples in the window (at-593s ... at-8s), 2 of them 0: SLI 38/40 =
//   0.95; over 1d, 720 samples (at-10793s ... at-8s), the same 2 at 0: 2/720 = 0.00277778.
#[test]
fn sloth_and_pyrra_known_history() {
    let at = at();
    let at_s = at.to_string();
    let prom = prometheus_with(at, &probe_openmetrics(at));
    let dir = both();
    let d = dir.path().display().to_string();
    let out = slo_check_at(
        &d,
        &prom.url,
        &at_s,
        &["--format", "json", "--min-events", "40"],
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
    let r = json(&out);
    assert_eq!(r["verdict"], "breached");
    assert_eq!(r["slos"].as_array().unwrap().len(), 8);
    let expect = [
        // name, period, objective, sli, burn, budget left, requests, verdict
        //
        // Sloth events at 99.9% over 30d: burn 0.0025 / 0.001 = 2.5; budget left
        // 1 - 0.000138889 / 0.001 = 0.861111.
        (
            "orders-requests-availability",
            "30d",
            0.999,
            0.9975,
            2.5,
            0.861111,
            Some(24000.0),
            "breached",
        ),
        // Sloth raw error ratio, the same numbers without a count of requests.
        (
            "orders-requests-availability-raw",
            "30d",
            0.999,
            0.9975,
            2.5,
            0.861111,
            None,
            "breached",
        ),
        // Sloth's PrometheusServiceLevel at 99.5%: burn 0.001 / 0.005 = 0.2; budget left
        // 1 - 0.2 = 0.8.
        (
            "users-requests-availability",
            "30d",
            0.995,
            0.999,
            0.2,
            0.8,
            Some(6000.0),
            "met",
        ),
        // Pyrra ratio at 99% over 1w: burn 0.0025 / 0.01 = 0.25; budget left
        // 1 - 0.000138889 / 0.01 = 0.986111.
        (
            "orders-errors",
            "7d",
            0.99,
            0.9975,
            0.25,
            0.986111,
            Some(24000.0),
            "met",
        ),
        // Pyrra ratio grouped by service at 99.9% over 1w, each group judged on its own:
        // orders burns 0.0025 / 0.001 = 2.5, users 1, frontend 0 (products, 20
        // requests, and cart, none, are not judged). The worst, orders, is reported; the
        // budget left is the most spent group's, users': 1 - 0.001 / 0.001 = 0.
        (
            "shop-errors-by-service",
            "7d",
            0.999,
            0.9975,
            2.5,
            0.0,
            Some(24000.0),
            "breached",
        ),
        // Pyrra latency at 95% over 2w: burn 0.03 / 0.05 = 0.6; budget left 0.4.
        (
            "users-latency",
            "14d",
            0.95,
            0.97,
            0.6,
            0.4,
            Some(6000.0),
            "met",
        ),
        // Pyrra bool_gauge at 90% over 1d: burn 0.05 / 0.1 = 0.5; budget left
        // 1 - 0.00277778 / 0.1 = 0.972222; 40 samples are the events.
        (
            "shop-probe",
            "1d",
            0.9,
            0.95,
            0.5,
            0.972222,
            Some(40.0),
            "met",
        ),
    ];
    for (name, period, objective, sli, burn, budget, requests, verdict) in expect {
        let s = slo(&r, name);
        assert_eq!(s["verdict"], verdict, "{name}: {s:#}");
        assert_eq!(s["period"], period, "{name}");
        near(&s["objective"], objective, &format!("{name} objective"));
        numbers(s, name, sli, burn, budget);
        match requests {
            Some(n) => {
                near(&s["requests"], n, &format!("{name} requests"));
                near(
                    &s["request_rate"],
                    n / 600.0,
                    &format!("{name} request_rate"),
                );
            }
            None => assert!(
                s["requests"].is_null() && s["request_rate"].is_null(),
                "{name}: {s:#}"
            ),
        }
    }
    let orders = slo(&r, "orders-requests-availability");
    assert_eq!(orders["service"], "orders");
    assert_eq!(orders["slo"], "requests-availability");
    assert_eq!(
        orders["reason"],
        "error ratio 0.25% over 10m is 2.5x the 0.1% budget, above --max-burn 1"
    );
    assert_eq!(slo(&r, "users-latency")["service"], "users");
    assert_eq!(
        slo(&r, "shop-errors-by-service")["reason"],
        "error ratio 0.25% over 10m is 2.5x the 0.1% budget, above --max-burn 1 (group \
         {service=\"orders\"}, the worst of 3 judged of 5 groups)"
    );
    assert_eq!(slo(&r, "orders-errors")["service"], "kubestore-dev");
    let warnings: Vec<&str> = r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings.contains(
            &"orders-requests-availability-raw: requests unknown: an error ratio query does \
              not count requests, so --min-events and the request rate do not apply"
        ),
        "{warnings:#?}"
    );
    // Sloth's recording rules are not loaded in this Prometheus: the report says so.
    assert!(
        warnings.contains(
            &"recording rules not loaded: the recorded error ratio of SLOs \
              orders-requests-availability, orders-requests-availability-raw, \
              users-requests-availability has no sample in the last 10m, so their alerts \
              cannot fire"
        ),
        "{warnings:#?}"
    );

    // No group has enough requests to be judged: low traffic, with the busiest group.
    let out = slo_check_at(
        &fixtures("pyrra/shop-errors-by-service.yaml"),
        &prom.url,
        &at_s,
        &["--format", "json", "--min-events", "100000"],
    );
    assert_eq!(code(&out), 4, "{}", text(&out));
    let grouped = slo(&json(&out), "shop-errors-by-service").clone();
    assert_eq!(grouped["verdict"], "low_traffic");
    assert_eq!(
        grouped["reason"],
        "24000 requests over 10m is below --min-events 100000: one failure would swing the \
         verdict (error ratio 0.25% over 10m is 2.5x the 0.1% budget) (group \
         {service=\"orders\"}, the busiest of 5 groups; none has --min-events requests)"
    );

    // Native histograms: Prometheus answers `histogram_fraction`, and this history has
    // none, so the SLO has no data and says why.
    let native = slo(&r, "frontend-latency-native");
    assert_eq!(native["verdict"], "no_data", "{native:#}");
    assert_eq!(native["no_data_cause"], "series_never_there");

    // Without --min-events, 40 probe samples are too few to judge.
    let out = slo_check_at(
        &fixtures("pyrra/shop-probe.yaml"),
        &prom.url,
        &at_s,
        &["--format", "json"],
    );
    assert_eq!(code(&out), 4, "{}", text(&out));
    let probe = slo(&json(&out), "shop-probe").clone();
    assert_eq!(probe["verdict"], "low_traffic");
    assert_eq!(
        probe["reason"],
        "40 requests over 10m is below --min-events 100: one failure would swing the verdict \
         (error ratio 5% over 10m is 0.5x the 10% budget)"
    );

    // --default-slo-period: Sloth files do not say theirs. Over 1d the same history
    // leaves the same budget (all of it lies within 3h).
    let out = slo_check_at(
        &fixtures("sloth/users-kubernetes.yaml"),
        &prom.url,
        &at_s,
        &["--format", "json", "--default-slo-period", "1d"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let users = slo(&json(&out), "users-requests-availability").clone();
    assert_eq!(users["period"], "1d");
    near(&users["budget_remaining"], 0.8, "users budget over 1d");
}

/// A Sloth `raw` SLI with no requests: the ratio is NaN (0/0) when the errors fall back
/// to `vector(0)`, and empty when they have no series; either is no data, never a pass.
#[test]
fn a_raw_ratio_of_no_requests_is_no_data() {
    let at = at();
    let prom = prometheus(at);
    let dir = tempfile::tempdir().unwrap();
    let bad = format!(
        "sum(rate(http_requests_total{{namespace=\"{NS}\",service=\"cart\",status=~\"5..\"}}[{{{{.window}}}}]))"
    );
    let total = format!(
        "sum(rate(http_requests_total{{namespace=\"{NS}\",service=\"cart\"}}[{{{{.window}}}}]))"
    );
    std::fs::write(
        dir.path().join("cart.yaml"),
        format!(
            "version: prometheus/v1\nservice: cart\nslos:\n  - name: fallback\n    objective: 99\n    sli:\n      raw:\n        error_ratio_query: '({bad} or vector(0)) / {total}'\n  - name: plain\n    objective: 99\n    sli:\n      raw:\n        error_ratio_query: '{bad} / {total}'\n"
        ),
    )
    .unwrap();
    let out = slo_check_at(
        &dir.path().display().to_string(),
        &prom.url,
        &at.to_string(),
        &["--format", "json"],
    );
    assert_eq!(code(&out), 4, "{}", text(&out));
    let r = json(&out);
    let fallback = slo(&r, "cart-fallback");
    assert_eq!(fallback["verdict"], "no_data");
    assert_eq!(fallback["no_data_cause"], "zero_requests");
    assert!(fallback["sli"].is_null() && fallback["budget_remaining"].is_null());
    assert_eq!(
        fallback["reason"],
        format!(
            "zero requests in the window: the error ratio over the last 10m is NaN (0/0) \
             ((sum(rate(http_requests_total{{namespace=\"{NS}\",service=\"cart\",status=~\"5..\"}}[10m])) or vector(0)) / sum(rate(http_requests_total{{namespace=\"{NS}\",service=\"cart\"}}[10m])))"
        )
    );
    let plain = slo(&r, "cart-plain");
    assert_eq!(plain["verdict"], "no_data");
    assert_eq!(plain["no_data_cause"], "series_never_there");
    assert_eq!(
        plain["reason"],
        format!(
            "series never there: no series matches `http_requests_total{{namespace=\"{NS}\",service=\"cart\",status=~\"5..\"}}` \
             in the last 30d, so the error ratio is empty (sum(rate(http_requests_total{{namespace=\"{NS}\",service=\"cart\",status=~\"5..\"}}[10m])) / sum(rate(http_requests_total{{namespace=\"{NS}\",service=\"cart\"}}[10m]))); \
             if it counts errors that never happened, write `(... or vector(0))` around it"
        )
    );
}

/// VictoriaMetrics serves the same API from another engine: the Sloth and Pyrra SLOs
/// agree with Prometheus to 4 decimals.
#[test]
fn victoria_metrics_agrees_on_sloth_and_pyrra() {
    let at = at();
    let at_s = at.to_string();
    let prom = prometheus_with(at, &probe_openmetrics(at));
    let vm = victoria(Some(at));
    import(&vm, &probe_prometheus_text(at));
    let dir = both();
    // VictoriaMetrics has no native histograms.
    std::fs::remove_file(dir.path().join("pyrra/frontend-latency-native.yaml")).unwrap();
    let d = dir.path().display().to_string();
    let run = |url: &str| {
        let out = slo_check_at(&d, url, &at_s, &["--format", "json", "--min-events", "40"]);
        assert_eq!(code(&out), 1, "{}", text(&out));
        json(&out)
    };
    let (p, v) = (run(&prom.url), run(&vm.url));
    assert_eq!(p["slos"].as_array().unwrap().len(), 7);
    agree(&p, &v, "VictoriaMetrics");
}

/// `--explain` shows, for every Sloth and Pyrra SLO, the queries it runs and the file,
/// line and key each came from, and asks nothing.
#[test]
fn explain_names_every_query_and_its_source() {
    let dir = both();
    let d = dir.path().display().to_string();
    let out = slo_check(&[
        "--slos",
        &d,
        "--prometheus",
        "http://127.0.0.1:9",
        "--explain",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (sloth, pyrra) = (format!("{d}/sloth"), format!("{d}/pyrra"));
    for line in [
        format!(
            "  bad over 10m: sum(increase(http_requests_total{{namespace=\"{NS}\",service=\"orders\",status=~\"5..\"}}[10m]))"
        ),
        format!("  bad query from {sloth}/orders.yaml:12 slos[0].sli.events.error_query"),
        format!("  total query from {sloth}/orders.yaml:13 slos[0].sli.events.total_query"),
        format!(
            "  error ratio over 30d: sum(rate(http_requests_total{{namespace=\"{NS}\",service=\"orders\",status=~\"5..\"}}[30d])) / sum(rate(http_requests_total{{namespace=\"{NS}\",service=\"orders\"}}[30d]))"
        ),
        format!(
            "  error ratio query from {sloth}/orders.yaml:28 slos[1].sli.raw.error_ratio_query"
        ),
        format!(
            "  bad query from {sloth}/users-kubernetes.yaml:16 spec.slos[0].sli.events.errorQuery"
        ),
        format!(
            "  bad query from {pyrra}/orders-errors.yaml:16 spec.indicator.ratio.errors.metric"
        ),
        format!(
            "  good query from {pyrra}/users-latency.yaml:14 spec.indicator.latency.success.metric"
        ),
        format!(
            "  good over 1d: sum(sum_over_time(probe_success{{namespace=\"{NS}\",target=\"shop\"}}[1d]))"
        ),
        format!("  total query from {pyrra}/shop-probe.yaml:11 spec.indicator.bool_gauge.metric"),
        format!(
            "  good query from {pyrra}/frontend-latency-native.yaml:15 spec.indicator.latencyNative.total.metric, {pyrra}/frontend-latency-native.yaml:13 spec.indicator.latencyNative.latency"
        ),
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing line:\n{line}\nin:\n{stdout}"
        );
    }
}

/// The protocol-buffer exposition format (`io.prometheus.client`), just what one native
/// histogram needs: promtool cannot write native histograms, so Prometheus scrapes them.
mod proto {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn key(field: u64, wire: u64, out: &mut Vec<u8>) {
        varint((field << 3) | wire, out);
    }

    pub fn uint(field: u64, v: u64, out: &mut Vec<u8>) {
        key(field, 0, out);
        varint(v, out);
    }

    pub fn sint(field: u64, v: i64, out: &mut Vec<u8>) {
        key(field, 0, out);
        varint(((v << 1) ^ (v >> 63)) as u64, out);
    }

    pub fn double(field: u64, v: f64, out: &mut Vec<u8>) {
        key(field, 1, out);
        out.extend(v.to_le_bytes());
    }

    pub fn bytes(field: u64, b: &[u8], out: &mut Vec<u8>) {
        key(field, 2, out);
        varint(b.len() as u64, out);
        out.extend(b);
    }

    /// `message` with its length before it, as a scrape body holds each family.
    pub fn delimited(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(message.len() as u64, &mut out);
        out.extend(message);
        out
    }
}

/// `http_request_duration_seconds{service="frontend"}` as a native histogram (schema 0:
/// buckets end at powers of 2) after `scrapes` scrapes: 90 requests per scrape in
/// (0.25s, 0.5s], bucket -1, and 10 in (1s, 2s], bucket 1.
fn native_histogram(scrapes: u64) -> Vec<u8> {
    use proto::*;
    let (fast, slow) = (90 * scrapes, 10 * scrapes);
    let mut h = Vec::new();
    uint(1, fast + slow, &mut h);
    double(2, fast as f64 * 0.4 + slow as f64 * 1.5, &mut h);
    sint(5, 0, &mut h);
    // A zero threshold marks the histogram as native (client_golang's default).
    double(6, 2f64.powi(-128), &mut h);
    uint(7, 0, &mut h);
    for (offset, length) in [(-1, 1), (1, 1)] {
        let mut span = Vec::new();
        sint(1, offset, &mut span);
        uint(2, length, &mut span);
        bytes(12, &span, &mut h);
    }
    sint(13, fast as i64, &mut h);
    sint(13, slow as i64 - fast as i64, &mut h);
    let mut metric = Vec::new();
    for (k, v) in [("namespace", NS), ("service", "frontend")] {
        let mut label = Vec::new();
        bytes(1, k.as_bytes(), &mut label);
        bytes(2, v.as_bytes(), &mut label);
        bytes(1, &label, &mut metric);
    }
    bytes(7, &h, &mut metric);
    let mut family = Vec::new();
    bytes(1, b"http_request_duration_seconds", &mut family);
    uint(3, 4, &mut family);
    bytes(4, &metric, &mut family);
    delimited(&family)
}

/// A scrape target serving [`native_histogram`], one more scrape's requests each time.
fn serve_native_histogram() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = native_histogram(n as u64 + 1);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.google.protobuf; \
                 proto=io.prometheus.client.MetricFamily; encoding=delimited\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    target
}

// Pyrra's latencyNative over native histograms Prometheus scraped: 90 of every 100
// requests end at or below 0.5s, a bucket boundary at schema 0, so `histogram_fraction`
// counts whole buckets and the SLI is 0.9 exactly, whatever the number of scrapes in the
// window (every bucket's increase is extrapolated by the same factor). At 99% the
// error ratio 0.1 burns 0.1 / 0.01 = 10x; the budget left over 4w is 1 - 10 = -9.
#[test]
fn pyrra_latency_native_over_scraped_native_histograms() {
    let prom = prometheus_scraping(&serve_native_histogram());
    std::thread::sleep(std::time::Duration::from_secs(70));
    let out = slo_check(&[
        "--slos",
        &fixtures("pyrra/frontend-latency-native.yaml"),
        "--prometheus",
        &prom.url,
        "--window",
        "1m",
        "--min-events",
        "10",
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let r = json(&out);
    let s = slo(&r, "frontend-latency-native");
    assert_eq!(s["verdict"], "breached", "{s:#}");
    numbers(s, "frontend-latency-native", 0.9, 10.0, -9.0);
    // About 100 requests a second over the minute; how many scrapes fell in it varies.
    let requests = s["requests"].as_f64().unwrap();
    assert!((4000.0..=8000.0).contains(&requests), "{s:#}");
}

/// Every Sloth and Pyrra feature slo-check cannot answer, and every malformed value, is
/// refused with file, line, key and the feature named, all at once (exit 2).
#[test]
fn refusals_name_file_line_key_and_feature() {
    let dir = tempfile::tempdir().unwrap();
    let sloth = dir.path().join("sloth.yaml");
    std::fs::write(
        &sloth,
        r#"version: prometheus/v1
service: shop
slos:
  - name: plugin
    objective: 99.9
    sli:
      plugin:
        id: sloth-common/kubernetes/apiserver/availability
  - name: irate
    objective: 99.9
    sli:
      events:
        error_query: sum(irate(x_total{code="500"}[{{.window}}]))
        total_query: sum(rate(x_total[5m]))
  - name: perfect
    objective: 100
    sli:
      raw:
        error_ratio_query: sum(rate(x_total{code="500"}[{{.window}}])) / sum(rate(x_total[{{.window}}]))
  - name: empty
    objective: 99
    sli: {}
---
apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata: {name: shop}
spec:
  service: shop
  slos:
    - name: no-total
      objective: 99
      sli:
        events:
          errorQuery: sum(rate(x_total{code="500"}[{{.window}}]))
    - name: both
      objective: 99
      sli:
        events:
          errorQuery: sum(rate(x_total{code="500"}[{{.window}}]))
          totalQuery: sum(rate(x_total[{{.window}}]))
        raw:
          errorRatioQuery: sum(rate(x_total{code="500"}[{{.window}}])) / sum(rate(x_total[{{.window}}]))
---
apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata: {name: bare}
"#,
    )
    .unwrap();
    let pyrra = dir.path().join("pyrra.yaml");
    std::fs::write(
        &pyrra,
        r#"apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: grouped}
spec:
  target: "99"
  window: 2w
  indicator:
    ratio:
      errors: {metric: 'x_total{code="500"}'}
      total: {metric: x_total}
      grouping: route
---
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: malformed}
spec:
  target: "99,5"
  window: 2 weeks
  indicator:
    latency:
      success: {metric: 'sum(x_bucket{le="0.5"})'}
      total: {metric: x_count}
---
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: unknown}
spec:
  target: "99"
  window: 4w
  indicator:
    latencyHistogram:
      total: {metric: x}
---
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: native}
spec:
  target: "99"
  window: 4w
  indicator:
    latencyNative:
      latency: fast
      total: {metric: x}
"#,
    )
    .unwrap();
    let out = slo_check(&[
        "--slos",
        &dir.path().display().to_string(),
        "--prometheus",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (p, s) = (pyrra.display(), sloth.display());
    for line in [
        format!(
            "{p}:11: spec.indicator.ratio.grouping: expected a list of label names, e.g. \
             `[route]`"
        ),
        format!(
            "{p}:17: spec.target: `99,5` is not a percentage: expected a number between 0 and \
             100, e.g. `99.9`"
        ),
        format!(
            "{p}:18: spec.window: `2 weeks` is not a duration (units are y, w, d, h, m and s): \
             expected e.g. `30s`, `10m`, `1h30m`, `7d`"
        ),
        format!(
            "{p}:21: spec.indicator.latency.success.metric: `sum(x_bucket{{le=\"0.5\"}})` is \
             not a plain series selector: Pyrra takes a metric and its labels, e.g. \
             `http_requests_total{{job=\"shop\"}}`"
        ),
        format!(
            "{p}:30: spec.indicator: expected one of `ratio`, `latency`, `latencyNative` or \
             `bool_gauge` (found `latencyHistogram`)"
        ),
        format!(
            "{s}:7: slos[0].sli.plugin: the SLI plugin \
             `sloth-common/kubernetes/apiserver/availability` is not supported: a Sloth \
             plugin builds its query in Go code that slo-check cannot run; write the SLI as \
             `events` or `raw`"
        ),
        format!(
            "{s}:13: slos[1].sli.events.error_query: `irate(...)` in an event query: \
             slo-check counts events from `rate(x[{{{{.window}}}}])` or \
             `increase(x[{{{{.window}}}}])`, added up with `sum`"
        ),
        format!(
            "{s}:14: slos[1].sli.events.total_query: names no window: write the range of \
             each `rate(...)` as `[{{{{.window}}}}]`, which slo-check sets to the evaluation \
             window and to the SLO period"
        ),
        format!(
            "{s}:16: slos[2].objective: `100` must be between 0 and 100, both excluded: a \
             100% objective has no error budget"
        ),
        format!(
            "{s}:22: slos[3].sli: expected `events` (error and total queries) or `raw` (an \
             error ratio query)"
        ),
        format!("{s}:33: spec.slos[0].sli.events.totalQuery: missing: a PromQL query"),
        format!(
            "{s}:37: spec.slos[1].sli: give one of `events`, `raw` or `plugin`, not `events` \
             and `raw`"
        ),
        format!(
            "{s}:44: spec: missing: a PrometheusServiceLevel holds its service and SLOs under \
             `spec`"
        ),
        format!(
            "{p}:42: spec.indicator.latencyNative.latency: expected the latency threshold as a \
             duration, e.g. `500ms` or `1s`"
        ),
    ] {
        assert!(
            stderr.lines().any(|l| l == line),
            "missing line:\n{line}\nin:\n{stderr}"
        );
    }
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with(&*dir.path().display().to_string()))
            .count(),
        14,
        "{stderr}"
    );
}

/// Reports are keyed by name, so a name given twice is refused, pointing at the line and
/// key where the second is written (a Sloth SLO's `slos[i].name`, whose name is
/// `<service>-<name>`) and at where the first was.
#[test]
fn a_name_given_twice_points_at_both_places() {
    let dir = tempfile::tempdir().unwrap();
    let query = |status: &str| {
        format!("sum(rate(http_requests_total{{service=\"orders\"{status}}}[{{{{.window}}}}]))")
    };
    let (bad, total) = (query(",status=~\"5..\""), query(""));
    let slo = |name: &str| {
        format!(
            "  - name: {name}\n    objective: 99.9\n    sli:\n      events:\n        error_query: '{bad}'\n        total_query: '{total}'\n"
        )
    };
    std::fs::write(
        dir.path().join("a-sloth.yaml"),
        format!(
            "version: prometheus/v1\nservice: orders\nslos:\n{}{}",
            slo("availability"),
            slo("availability")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b-pyrra.yaml"),
        "apiVersion: pyrra.dev/v1alpha1\nkind: ServiceLevelObjective\nmetadata:\n  name: orders-availability\nspec:\n  target: \"99\"\n  window: 2w\n  indicator:\n    ratio:\n      errors: {metric: 'http_requests_total{status=~\"5..\"}'}\n      total: {metric: http_requests_total}\n",
    )
    .unwrap();
    let out = slo_check(&["--slos", &dir.path().display().to_string(), "--explain"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let d = dir.path().display();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "slo-check: invalid SLO definitions:
{d}/a-sloth.yaml:10: slos[1].name: SLO `orders-availability` is defined twice (first at {d}/a-sloth.yaml:4)
{d}/b-pyrra.yaml:4: metadata.name: SLO `orders-availability` is defined twice (first at {d}/a-sloth.yaml:4)
"
        )
    );
}

/// A Pyrra latency SLO whose `success` is not one bucket counts the wrong requests as
/// fast: the `_count` itself passed every request (a silent 100%), every bucket made more
/// fast requests than requests (a data error at run time, exit 3). Both are refused when
/// read, as Pyrra refuses them, naming the file, line and key (exit 2).
#[test]
fn a_pyrra_latency_success_without_a_bucket_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let slo = |name: &str, success: &str| {
        format!(
            "apiVersion: pyrra.dev/v1alpha1\nkind: ServiceLevelObjective\nmetadata:\n  name: {name}\nspec:\n  target: \"95\"\n  window: 1d\n  indicator:\n    latency:\n      success:\n        metric: {success}\n      total:\n        metric: http_request_duration_seconds_count{{service=\"users\"}}\n"
        )
    };
    std::fs::write(
        dir.path().join("a.yaml"),
        slo(
            "count",
            "http_request_duration_seconds_count{service=\"users\"}",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        slo(
            "buckets",
            "http_request_duration_seconds_bucket{service=\"users\",le=~\"0.5|1.0\"}",
        ),
    )
    .unwrap();
    let out = slo_check(&["--slos", &dir.path().display().to_string(), "--explain"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let d = dir.path().display();
    let refusal = |file: &str, selector: &str| {
        format!(
            "{d}/{file}:11: spec.indicator.latency.success.metric: `{selector}` does not name \
             one histogram bucket: the fast requests are those of a `_bucket` series with `le` \
             equal to the threshold in seconds, e.g. \
             `http_request_duration_seconds_bucket{{job=\"shop\",le=\"0.5\"}}`\n"
        )
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "slo-check: invalid SLO definitions:\n{}{}",
            refusal(
                "a.yaml",
                "http_request_duration_seconds_count{service=\"users\"}"
            ),
            refusal(
                "b.yaml",
                "http_request_duration_seconds_bucket{service=\"users\",le=~\"0.5|1.0\"}"
            ),
        )
    );
}

/// Pyrra carries a `pyrra.dev/service` label onto its rules as `service`: it names the
/// SLO's service, where the namespace stood in before.
#[test]
fn a_pyrra_service_label_names_the_service() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("slo.yaml"),
        "apiVersion: pyrra.dev/v1alpha1\nkind: ServiceLevelObjective\nmetadata:\n  name: receive-errors\n  namespace: monitoring\n  labels:\n    pyrra.dev/service: telemeter\nspec:\n  target: \"99\"\n  window: 2w\n  indicator:\n    ratio:\n      errors: {metric: 'http_requests_total{code=~\"5..\"}'}\n      total: {metric: http_requests_total}\n",
    )
    .unwrap();
    let out = slo_check(&["--slos", &dir.path().display().to_string(), "--explain"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.contains("receive-errors (service telemeter, objective 0.99, period 14d"),
        "{t}"
    );
}
