//! OpenSLO as it is written in the wild (fixtures in `tests/fixtures/openslo/`, in the
//! style of the OpenSLO examples and the `oslo` and SDK test data): a top-level list of
//! documents, a DataSource named by `metricSourceRef`, an SLI in another file reached by
//! `indicatorRef`, several objectives, Sloth's window placeholder, Kubernetes objects
//! and upper-case extensions in the same folder; every refusal by its exact message.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openslo")
}

/// A copy of `tests/fixtures/openslo/<name>` with the DataSource's URL set to `url`.
fn copy(name: &str, url: &str) -> tempfile::TempDir {
    copy_with(name, &[("__PROMETHEUS_URL__", url)])
}

/// A copy of `tests/fixtures/openslo/<name>` with each placeholder replaced.
fn copy_with(name: &str, values: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let from = fixtures().join(name);
    let mut stack = vec![from.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let to = dir.path().join(p.strip_prefix(&from).unwrap());
            if p.is_dir() {
                std::fs::create_dir_all(&to).unwrap();
                stack.push(p);
            } else {
                let text = values
                    .iter()
                    .fold(std::fs::read_to_string(&p).unwrap(), |t, (k, v)| {
                        t.replace(k, v)
                    });
                std::fs::write(&to, text).unwrap();
            }
        }
    }
    dir
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The store's definitions, read without a server: every form is understood, the
/// ConfigMap, Service and AlertPolicy are skipped with a note each.
#[test]
fn the_forms_of_the_wild_are_read() {
    let dir = copy("store", "http://127.0.0.1:1");
    let path = dir.path().display().to_string();
    let out = slo_check(&["--slos", &path, "--explain", "--at", "1796148000"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    for name in [
        "orders-availability (service orders, objective 0.999, period 1d",
        "users-availability-strict (service users, objective 0.9995, period 1d",
        "users-availability-loose (service users, objective 0.99, period 1d",
    ] {
        assert!(t.contains(name), "{name}: {t}");
    }
    // Sloth's `{{.window}}` stands for the window like `$window`.
    assert!(
        t.contains(r#"good over 10m: sum(increase(http_requests_total{namespace="kubestore-dev",service="users",status!~"5.."}[10m]))"#),
        "{t}"
    );
    let e = stderr(&out);
    assert!(
        e.contains("slis/orders.YAML:25: skipped `v1` `ConfigMap`: not an SLO definition"),
        "{e}"
    );
    assert!(
        e.contains(
            "store.yaml:12: skipped OpenSLO `Service` `orders`: it holds no SLO to evaluate"
        ),
        "{e}"
    );
    assert!(
        e.contains("skipped OpenSLO `AlertPolicy` `orders-fast-burn`"),
        "{e}"
    );
}

/// Every problem of every file at once, each in the file and at the line where it is
/// written, with its key path and in words.
#[test]
fn every_refusal_names_file_line_key_and_feature() {
    let dir = fixtures().join("invalid");
    // Read before anything is asked: --explain fails the same way.
    let out = slo_check(&["--slos", &dir.display().to_string(), "--explain"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let d = dir.display();
    let expected = format!(
        "slo-check: invalid SLO definitions:
{d}/sli.yaml:6: spec.type: a `Datadog` source is not supported: slo-check asks a Prometheus-compatible server (type Prometheus, Thanos, Cortex, Mimir or VictoriaMetrics)
{d}/sli.yaml:21: spec.ratioMetric.bad.metricSource.spec.query: `rate(...)` gives events per second, not a number of events over the window: count them with `increase(...[$window])`
{d}/slo.yaml:5: spec.budgetingMethod: missing: `Occurrences`, `Timeslices` or `RatioTimeslices`
{d}/slo.yaml:9: spec.timeWindow[0].duration: `1M`: months and quarters have no fixed length, so a rolling window is written in days or weeks (e.g. `28d`)
{d}/slo.yaml:18: spec: expected a mapping, found a string
"
    );
    assert_eq!(stderr(&out), expected);
}

/// A file of more than 1024 documents (the YAML parser's own default) is read; past
/// slo-check's documented limit the message says so in words.
#[test]
fn many_documents_are_read_and_the_limit_is_stated() {
    let dir = tempfile::tempdir().unwrap();
    let service = "apiVersion: openslo/v1\nkind: Service\nmetadata: {name: s}\nspec: {}\n";
    let slo = std::fs::read_to_string(fixtures().join("store/users.yml"))
        .unwrap()
        .replace("metricSourceRef: prometheus-main", "type: Prometheus");
    let many = format!("{}---\n{slo}", format!("{service}---\n").repeat(1100));
    let file = dir.path().join("many.yaml");
    std::fs::write(&file, many).unwrap();
    let out = slo_check(&["--slos", &file.display().to_string(), "--explain"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("users-availability-loose"));

    let too_many = format!("{service}---\n").repeat(10_001);
    std::fs::write(&file, too_many).unwrap();
    let out = slo_check(&["--slos", &file.display().to_string(), "--explain"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let e = stderr(&out);
    assert!(
        e.contains(
            "many.yaml:50000: more than 10000 YAML documents in one file, slo-check's limit: split the file"
        ),
        "{e}"
    );
    assert!(!e.contains("Documents {"), "{e}");
}

/// Against the known history (support::history), at 4 decimals, with the DataSource's
/// URL standing in for --prometheus.
///
/// orders over the last 10m: 2 pods x 20 req/s = 24000 requests; 60 of them 5xx (1.5 per
/// 15s per pod over 5 minutes), so sli = 1 - 60/24000 = 0.9975 and burn = 0.0025 / 0.001
/// = 2.5 (breached). Over the 1d period (3h of history): 432000 requests, 60 bad, so the
/// budget left is 1 - (60/432000)/0.001 = 0.861111.
/// users: 0.1% errors throughout, 6000 requests over 10m: sli 0.999; the strict 99.95%
/// objective burns 2 and has spent its budget twice (1 - 0.001/0.0005 = -1); the loose
/// 99% burns 0.1 and has 1 - 0.001/0.01 = 0.9 left.
#[test]
fn the_wild_forms_evaluate_exactly() {
    let at = at();
    let at_s = at.to_string();
    let prom = prometheus(at);
    let dir = copy("store", &prom.url);
    let path = dir.path().display().to_string();
    let out = slo_check(&["--slos", &path, "--at", &at_s, "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let r = json(&out);
    assert_eq!(r["prometheus"], prom.url.as_str(), "the DataSource's URL");
    let expect = [
        // name, sli, burn, budget left, requests, verdict
        (
            "orders-availability",
            0.9975,
            2.5,
            0.861111,
            24000.0,
            "breached",
        ),
        (
            "users-availability-strict",
            0.999,
            2.0,
            -1.0,
            6000.0,
            "breached",
        ),
        ("users-availability-loose", 0.999, 0.1, 0.9, 6000.0, "met"),
    ];
    for (name, sli, burn, budget, requests, verdict) in expect {
        let s = slo(&r, name);
        near(&s["sli"], sli, &format!("{name} sli"));
        near(&s["burn_rate"], burn, &format!("{name} burn_rate"));
        near(&s["budget_remaining"], budget, &format!("{name} budget"));
        near(&s["requests"], requests, &format!("{name} requests"));
        assert_eq!(s["verdict"], verdict, "{name}: {s:#}");
        assert_eq!(s["period"], "1d");
    }
    // The flag wins over the DataSource.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let out = slo_check_at(&path, &closed, &at_s, &["--retries", "0"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        text(&out).contains(&format!("cannot reach {closed}")),
        "{}",
        text(&out)
    );
}

/// The run's deadline names itself: `--timeout 2s` against a server that answers after
/// 3s says 2s and the flag, not the 10s of --query-timeout.
#[test]
fn an_expired_run_deadline_names_its_own_limit() {
    let at = at();
    let prom = prometheus(at);
    let proxy = proxy(&prom.url);
    let dir = copy("store", "http://127.0.0.1:1");
    let out = slo_check_at(
        &dir.path().display().to_string(),
        &format!("{}/slow", proxy.url),
        &at.to_string(),
        &["--timeout", "2s", "--format", "json"],
    );
    assert_eq!(code(&out), 3, "{}", text(&out));
    let reason = slo(&json(&out), "orders-availability")["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("--timeout 2s"), "{reason}");
    assert!(!reason.contains("10s"), "{reason}");
}

/// One cause, one line: the recording rules of all ten dev SLOs are missing from this
/// Prometheus, and the warning says so once, naming them.
#[test]
fn missing_rules_are_reported_once() {
    let at = at();
    let prom = prometheus(at);
    let dev = repo().join("gitops/slo/dev").display().to_string();
    let out = slo_check_at(&dev, &prom.url, &at.to_string(), &["--format", "json"]);
    let r = json(&out);
    let warnings: Vec<&str> = r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .filter(|w| w.contains("recording rules not loaded"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].starts_with(
            "recording rules not loaded: the recorded error ratio of SLOs cart-availability, cart-latency, frontend-availability"
        ),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].ends_with("has no sample in the last 10m, so their alerts cannot fire"),
        "{}",
        warnings[0]
    );
}

/// Log lines to a pipe carry no colour codes, even without NO_COLOR.
#[test]
fn logs_to_a_pipe_are_plain() {
    let dir = copy("store", "http://127.0.0.1:1");
    let out = Command::new(env!("CARGO_BIN_EXE_slo-check"))
        .args([
            "--slos",
            &dir.path().display().to_string(),
            "--prometheus",
            &format!("http://127.0.0.1:{}", free_port()),
            "--retries",
            "1",
        ])
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", text(&out));
    let e = stderr(&out);
    assert!(e.contains("retrying a query"), "a log line is written: {e}");
    assert!(!e.contains('\x1b'), "no ANSI codes: {e:?}");
}

/// `unix` as local time in `zone`, the way OpenSLO writes `calendar.startTime`.
fn local(unix: i64, zone: &str) -> String {
    let out = Command::new("date")
        .env("TZ", zone)
        .args(["-d", &format!("@{unix}"), "+%Y-%m-%d %H:%M:%S"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Time slices and calendar periods against the known history (support::history), to 4
/// decimals. The history is orders' 40 req/s with 0.5% errors from at-8m to at-3m, and
/// pod b's counters reset at at-5m, inside the window.
///
/// Timeslices, 1m slices, a slice good at >= 99.9%: of the 10 minutes ending at `at`, the
/// 5 ending at at-7m .. at-3m hold the burst (0.5% errors each, the reset counted once,
/// not as a drop) and are bad: sli = 5/10 = 0.5, burn = 0.5 / (1 - 0.9) = 5 (breached).
/// The 1d period holds 180 minutes of traffic, 5 of them bad: budget left
/// 1 - (5/180)/0.1 = 0.722222.
///
/// RatioTimeslices: the mean of the minutes' ratios, 5 at 99.5% and 5 at 100%:
/// sli = 0.9975, burn = 0.0025/0.001 = 2.5; over 180 minutes the mean error is
/// 5 x 0.005 / 180, so 1 - 0.000138889/0.001 = 0.861111 left (the same as counting
/// events, as it must be with steady traffic).
///
/// Threshold metric (5xx counted in the minute, good at `lte 0`), per 1m slice: the same
/// 5 bad minutes of 10 (sli 0.5, burn 5); over its 2h period 5 of 120 minutes are bad,
/// 1 - (5/120)/0.1 = 0.583333 left. It counts no requests.
///
/// Calendar month (Paris time) that began at at-2h: the budget is that of the last 2h,
/// 288000 requests with 60 errors: 1 - (60/288000)/0.001 = 0.791667, where the 1d
/// rolling period of the same SLO leaves 0.861111.
#[test]
fn time_slices_and_calendar_periods_evaluate_exactly() {
    let at = at();
    let at_s = at.to_string();
    let prom = prometheus(at);
    let start = local(at - 7200, "Europe/Paris");
    let dir = copy_with(
        "budgeting",
        &[("__PROMETHEUS_URL__", &prom.url), ("__START__", &start)],
    );
    let path = dir.path().display().to_string();
    let out = slo_check(&["--slos", &path, "--at", &at_s, "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let r = json(&out);
    let expect = [
        // name, sli, burn, budget left, verdict
        ("orders-good-minutes", 0.5, 5.0, 0.722222, "breached"),
        ("orders-minute-ratio", 0.9975, 2.5, 0.861111, "breached"),
        ("orders-this-month", 0.9975, 2.5, 0.791667, "breached"),
        ("orders-error-free-minutes", 0.5, 5.0, 0.583333, "breached"),
    ];
    for (name, sli, burn, budget, verdict) in expect {
        let s = slo(&r, name);
        near(&s["sli"], sli, &format!("{name} sli"));
        near(&s["burn_rate"], burn, &format!("{name} burn_rate"));
        near(&s["budget_remaining"], budget, &format!("{name} budget"));
        assert_eq!(s["verdict"], verdict, "{name}: {s:#}");
        if name == "orders-error-free-minutes" {
            assert!(
                s["requests"].is_null(),
                "a threshold counts no requests: {s:#}"
            );
        } else {
            near(&s["requests"], 24000.0, &format!("{name} requests"));
        }
    }
    assert_eq!(
        slo(&r, "orders-good-minutes")["reason"],
        "share of bad 1m slices 50% over 10m is 5x the 10% budget, above --max-burn 1"
    );
    // --explain shows the subqueries and where each query was written.
    let out = slo_check(&["--slos", &path, "--at", &at_s, "--explain"]);
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        t.contains(r#"share of good 1m slices (ratio >= 0.999) over 10m: avg_over_time(((1 - ((sum(increase(http_requests_total{namespace="kubestore-dev",service="orders",status=~"5.."}[1m])) or vector(0)) / (sum(increase(http_requests_total{namespace="kubestore-dev",service="orders"}[1m])) > 0))) >= bool 0.999)[9m59s:1m])"#),
        "{t}"
    );
    assert!(
        t.contains(
            "orders-slices.yaml:19 spec.indicator.spec.ratioMetric.bad.metricSource.spec.query"
        ),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "orders-this-month (service orders, objective 0.999, calendar 1M from {start} CET, the current period so far: 2h"
        )),
        "{t}"
    );
}

/// VictoriaMetrics answers the same forms with the same numbers: its subqueries and
/// `increase` differ from Prometheus' in their edges, and the slices must not.
#[test]
fn victoria_metrics_agrees_on_the_wild_forms() {
    let at = at();
    let at_s = at.to_string();
    let prom = prometheus(at);
    let vm = victoria(Some(at));
    let start = local(at - 7200, "Europe/Paris");
    let run = |url: &str| {
        let mut slos = Vec::new();
        for fixture in ["store", "budgeting"] {
            let dir = copy_with(
                fixture,
                &[("__PROMETHEUS_URL__", url), ("__START__", &start)],
            );
            let path = dir.path().display().to_string();
            let out = slo_check(&["--slos", &path, "--at", &at_s, "--format", "json"]);
            assert_eq!(code(&out), 1, "{}", text(&out));
            slos.extend(json(&out)["slos"].as_array().unwrap().clone());
        }
        slos
    };
    let (p, v) = (run(&prom.url), run(&vm.url));
    assert_eq!(p.len(), 7);
    for s in &p {
        let name = s["name"].as_str().unwrap();
        let other = v.iter().find(|o| o["name"] == name).unwrap();
        assert_eq!(s["verdict"], other["verdict"], "{name}: {s:#} vs {other:#}");
        for key in ["sli", "burn_rate", "budget_remaining", "requests"] {
            match s[key].as_f64() {
                Some(x) => near(&other[key], x, &format!("{name} {key} on VictoriaMetrics")),
                None => assert!(other[key].is_null(), "{name} {key}: {other:#}"),
            }
        }
    }
}

/// OpenSLO's precomputed ratios (`ratioMetric.raw` with `rawType`, fixtures in
/// `tests/fixtures/openslo/raw/`) against the known history (support::history), to 4
/// decimals, on Prometheus and VictoriaMetrics alike. A raw ratio counts no requests.
///
/// orders, `rawType: failure` at 99.9% over 1d: over 10m, 60 of 24000 requests are 5xx,
/// error ratio 0.0025, sli 0.9975, burn 0.0025 / 0.001 = 2.5 (breached); over the 1d
/// period (3h of history) 60 of 432000: 1 - 0.000138889 / 0.001 = 0.861111 left.
/// users, `rawType: success` at 99%: a share of 0.999 good, error ratio 1 - 0.999 =
/// 0.001, burn 0.001 / 0.01 = 0.1 (met), 1 - 0.1 = 0.9 left.
/// frontend, `rawType: success` at 99.9%: no 5xx series at all, all good: sli 1, burn 0,
/// budget untouched (1), met; where an error ratio would divide nothing by something.
#[test]
fn raw_ratios_evaluate_exactly() {
    let at = at();
    let at_s = at.to_string();
    let prom = prometheus(at);
    let vm = victoria(Some(at));
    let expect = [
        // name, sli, burn, budget left, verdict
        ("orders-availability-raw", 0.9975, 2.5, 0.861111, "breached"),
        ("users-availability-raw", 0.999, 0.1, 0.9, "met"),
        ("frontend-availability-raw", 1.0, 0.0, 1.0, "met"),
    ];
    for url in [&prom.url, &vm.url] {
        let dir = copy("raw", url);
        let path = dir.path().display().to_string();
        let out = slo_check(&["--slos", &path, "--at", &at_s, "--format", "json"]);
        assert_eq!(code(&out), 1, "{url}: {}", text(&out));
        let r = json(&out);
        assert_eq!(r["exit_code"], 1);
        for (name, sli, burn, budget, verdict) in expect {
            let s = slo(&r, name);
            near(&s["sli"], sli, &format!("{name} sli on {url}"));
            near(&s["burn_rate"], burn, &format!("{name} burn_rate on {url}"));
            near(
                &s["budget_remaining"],
                budget,
                &format!("{name} budget on {url}"),
            );
            assert_eq!(s["verdict"], verdict, "{name} on {url}: {s:#}");
            assert!(s["requests"].is_null(), "a ratio counts no requests: {s:#}");
        }
    }
    // --explain shows the query Prometheus answers: a share of good events as `1 - (...)`.
    let dir = copy("raw", &prom.url);
    let out = slo_check(&[
        "--slos",
        &dir.path().display().to_string(),
        "--at",
        &at_s,
        "--explain",
    ]);
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        t.contains(r#"error ratio over 10m: 1 - (sum(rate(http_requests_total{namespace="kubestore-dev",service="users",status!~"5.."}[10m])) / sum(rate(http_requests_total{namespace="kubestore-dev",service="users"}[10m])))"#),
        "{t}"
    );
    assert!(
        t.contains(r#"error ratio over 1d: sum(rate(http_requests_total{namespace="kubestore-dev",service="orders",status=~"5.."}[1d])) / sum(rate(http_requests_total{namespace="kubestore-dev",service="orders"}[1d]))"#),
        "{t}"
    );
}

/// A `rawType` slo-check does not know, a raw ratio read as counters and a raw ratio
/// sliced in time are refused by name, file, line and key; nothing is asked.
#[test]
fn raw_ratios_slo_check_cannot_judge_are_refused() {
    let dir = copy("raw", "http://127.0.0.1:1");
    let edit = |name: &str, edit: &dyn Fn(String) -> String| {
        let file = dir.path().join(name);
        std::fs::write(&file, edit(std::fs::read_to_string(&file).unwrap())).unwrap();
    };
    edit("orders.yaml", &|t| {
        t.replace("rawType: failure", "rawType: percent")
    });
    edit("success.yaml", &|t| {
        // users sliced in time, frontend read as counters.
        let (users, frontend) = t.split_at(t.find("name: frontend-availability-raw").unwrap());
        let users = users
            .replace(
                "budgetingMethod: Occurrences",
                "budgetingMethod: RatioTimeslices",
            )
            .replace("target: 0.99", "target: 0.99\n        timeSliceWindow: 1m");
        format!(
            "{users}{}",
            frontend.replace("counter: false", "counter: true")
        )
    });
    let out = slo_check(&["--slos", &dir.path().display().to_string(), "--explain"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let d = dir.path().display();
    assert_eq!(
        stderr(&out),
        format!(
            "slo-check: invalid SLO definitions:
{d}/orders.yaml:11: spec.ratioMetric.rawType: `percent` is not a `rawType`: expected `success` (the share of good events) or `failure` (the error ratio)
{d}/success.yaml:24: spec.budgetingMethod: a `raw` ratio is judged over the window and the SLO period: slo-check evaluates it with `Occurrences`
{d}/success.yaml:39: spec.indicator.spec.ratioMetric.counter: a `raw` ratio is computed over the window by its query, not read from counters: set `counter: false`
"
        )
    );
}
