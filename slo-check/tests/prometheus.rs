//! slo-check against a real Prometheus holding a known history (see support::history):
//! the numbers of every SLO to 4 decimals, every exit code of the contract, retries,
//! partial and garbage answers, auth and TLS, and every report format.

mod support;

use std::process::Command;

use support::*;

fn dev_slos() -> String {
    repo().join("gitops/slo/dev").display().to_string()
}

#[test]
fn prometheus_known_history() {
    let at = at();
    let at_s = at.to_string();
    let mut prom = prometheus(at);
    let url = prom.url.clone();

    // The generator's own OpenSLO documents for dev, and the same through --env.
    let out = slo_check_at(&dev_slos(), &url, &at_s, &["--format", "json"]);
    assert_eq!(code(&out), 4, "{}", text(&out));
    let r = json(&out);
    assert_eq!(r["version"], 1);
    assert_eq!(r["window"], "10m");
    assert_eq!(r["verdict"], "no_data");
    assert_eq!(r["exit_code"], 4);
    assert_eq!(r["prometheus"], url.as_str());
    assert_eq!(r["evaluated_at"], chrono_like(at));
    let expect = [
        // name, sli, burn, budget left, requests, verdict
        (
            "orders-availability",
            0.9975,
            0.25,
            0.986111,
            24000.0,
            "met",
        ),
        ("orders-latency", 0.98, 0.4, 0.6, 24000.0, "met"),
        ("users-availability", 0.999, 0.2, 0.8, 6000.0, "met"),
        ("users-latency", 0.97, 0.6, 0.4, 6000.0, "met"),
        ("frontend-availability", 1.0, 0.0, 1.0, 6000.0, "met"),
        ("frontend-latency", 0.99, 0.2, 0.8, 6000.0, "met"),
        ("products-availability", 1.0, 0.0, 1.0, 20.0, "low_traffic"),
    ];
    for (name, sli, burn, budget, requests, verdict) in expect {
        let s = slo(&r, name);
        numbers(s, name, sli, burn, budget);
        near(&s["requests"], requests, &format!("{name} requests"));
        near(
            &s["request_rate"],
            requests / 600.0,
            &format!("{name} request_rate"),
        );
        assert_eq!(s["verdict"], verdict, "{name}: {s:#}");
        assert_eq!(s["window"], "10m");
        assert_eq!(s["period"], "7d");
    }
    let orders = slo(&r, "orders-availability");
    assert_eq!(orders["service"], "orders");
    assert_eq!(orders["slo"], "availability");
    near(&orders["objective"], 0.99, "objective");
    assert_eq!(
        orders["reason"],
        "error ratio 0.25% over 10m is 0.25x the 1% budget"
    );
    assert!(
        slo(&r, "products-availability")["reason"]
            .as_str()
            .unwrap()
            .contains("below --min-events 100")
    );
    for name in ["cart-availability", "cart-latency"] {
        let s = slo(&r, name);
        assert_eq!(s["verdict"], "no_data", "{s:#}");
        assert_eq!(s["no_data_cause"], "zero_requests");
        assert!(s["sli"].is_null() && s["burn_rate"].is_null() && s["budget_remaining"].is_null());
        assert!(
            s["reason"]
                .as_str()
                .unwrap()
                .contains("sum(increase(http_re"),
            "the query is printed: {s:#}"
        );
    }
    // No rules are loaded in this Prometheus: every SLO says so.
    assert!(r["warnings"].as_array().unwrap().iter().any(|w| {
        w.as_str()
            .unwrap()
            .starts_with("recording rules not loaded")
    }));

    let via_env = json(&slo_check(&[
        "--env",
        "dev",
        "--environments",
        &repo().join("environments").display().to_string(),
        "--prometheus",
        &url,
        "--at",
        &at_s,
        "--format",
        "json",
    ]));
    for s in r["slos"].as_array().unwrap() {
        let e = slo(&via_env, s["name"].as_str().unwrap());
        for key in [
            "sli",
            "burn_rate",
            "budget_remaining",
            "requests",
            "verdict",
            "objective",
            "period",
        ] {
            assert_eq!(
                s[key], e[key],
                "--env and --slos disagree on {key} of {}",
                s["name"]
            );
        }
    }
    // --allow-no-data: exit 0, still reported.
    let out = slo_check_at(&dev_slos(), &url, &at_s, &["--allow-no-data"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no_data"));

    // Hand-written OpenSLO with strict objectives: orders breaches.
    let strict_dir = tempfile::tempdir().unwrap();
    strict(strict_dir.path());
    let sd = strict_dir.path().display().to_string();
    let out = slo_check_at(&sd, &url, &at_s, &["--format", "json"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let r = json(&out);
    let o = slo(&r, "orders-availability-strict");
    near(&o["sli"], 0.9975, "strict sli");
    near(&o["burn_rate"], 2.5, "strict burn");
    near(&o["budget_remaining"], 0.861111, "strict budget");
    assert_eq!(o["verdict"], "breached");
    assert_eq!(
        o["reason"],
        "error ratio 0.25% over 10m is 2.5x the 0.1% budget, above --max-burn 1"
    );
    assert_eq!(
        r["slos"][0]["name"], "orders-availability-strict",
        "breached first"
    );
    let u = slo(&r, "users-availability-strict");
    near(&u["burn_rate"], 0.5, "users burn");
    near(&u["budget_remaining"], 0.5, "users budget");
    assert_eq!(u["verdict"], "met");
    // --max-burn 3: met.
    let out = slo_check_at(&sd, &url, &at_s, &["--max-burn", "3"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    // --since: the last 5 minutes hold 24 of the 60 errors in 12000 requests.
    let out = slo_check_at(
        &sd,
        &url,
        &at_s,
        &["--since", &(at - 300).to_string(), "--format", "json"],
    );
    let r = json(&out);
    assert_eq!(r["window"], "5m");
    assert_eq!(r["since"], chrono_like(at - 300));
    near(
        &slo(&r, "orders-availability-strict")["burn_rate"],
        2.0,
        "since burn",
    );
    near(
        &slo(&r, "orders-availability-strict")["requests"],
        12000.0,
        "since requests",
    );

    // --budget-policy: users at 99.95% burns 2x over the window and has spent its budget twice.
    let spent = tempfile::tempdir().unwrap();
    openslo(
        spent.path(),
        "users-spent",
        "users",
        0.9995,
        "1d",
        (
            "bad",
            &format!(
                "sum(http_requests_total{{namespace=\"{NS}\",service=\"users\",status=~\"5..\"}})"
            ),
            &format!("sum(http_requests_total{{namespace=\"{NS}\",service=\"users\"}})"),
        ),
    );
    let sp = spent.path().display().to_string();
    let out = slo_check_at(&sp, &url, &at_s, &["--max-burn", "3", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let r = json(&out);
    near(
        &slo(&r, "users-spent")["budget_remaining"],
        -1.0,
        "spent budget",
    );
    assert!(
        r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("budget is spent")),
        "{r:#}"
    );
    let out = slo_check_at(
        &sp,
        &url,
        &at_s,
        &["--max-burn", "3", "--budget-policy", "fail"],
    );
    assert_eq!(code(&out), 1, "{}", text(&out));

    // No data, with the cause.
    let nodata = tempfile::tempdir().unwrap();
    let q = |svc: &str| format!("sum(http_requests_total{{namespace=\"{NS}\",service=\"{svc}\"}})");
    openslo(
        nodata.path(),
        "payments",
        "payments",
        0.99,
        "1d",
        ("bad", &q("payments"), &q("payments")),
    );
    openslo(
        nodata.path(),
        "search",
        "search",
        0.99,
        "1d",
        ("bad", &q("search"), &q("search")),
    );
    openslo(
        nodata.path(),
        "recorded",
        "orders",
        0.99,
        "1d",
        (
            "bad",
            "sum(slo:requests_errors:total)",
            "sum(slo:requests:total)",
        ),
    );
    let out = slo_check_at(
        &nodata.path().display().to_string(),
        &url,
        &at_s,
        &["--format", "json"],
    );
    assert_eq!(code(&out), 4, "{}", text(&out));
    let r = json(&out);
    assert_eq!(slo(&r, "payments")["no_data_cause"], "series_never_there");
    assert_eq!(slo(&r, "search")["no_data_cause"], "series_gone");
    assert_eq!(slo(&r, "recorded")["no_data_cause"], "rules_not_loaded");
    assert!(
        slo(&r, "payments")["reason"]
            .as_str()
            .unwrap()
            .contains("count")
            || slo(&r, "payments")["reason"]
                .as_str()
                .unwrap()
                .contains("increase")
    );

    // More bad requests than requests is a data error with the numbers (exit 3).
    let inconsistent = tempfile::tempdir().unwrap();
    openslo(
        inconsistent.path(),
        "twice",
        "orders",
        0.99,
        "1d",
        ("bad", &format!("{} * 2", q("orders")), &q("orders")),
    );
    let out = slo_check_at(
        &inconsistent.path().display().to_string(),
        &url,
        &at_s,
        &["--format", "json"],
    );
    assert_eq!(code(&out), 3, "{}", text(&out));
    let t = json(&out);
    assert_eq!(slo(&t, "twice")["verdict"], "error");
    assert_eq!(
        slo(&t, "twice")["reason"],
        "data error: 48000 bad events out of 24000 over the window (bad > total)"
    );

    // Low traffic alone: exit 4.
    let low = tempfile::tempdir().unwrap();
    openslo(
        low.path(),
        "products",
        "products",
        0.99,
        "1d",
        ("bad", &q("products"), &q("products")),
    );
    let out = slo_check_at(&low.path().display().to_string(), &url, &at_s, &[]);
    assert_eq!(code(&out), 4, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("low_traffic"));

    // Through the proxy: a 500 once is retried; always 500, garbage and partial are exit 3.
    let proxy = proxy(&url);
    let via = |mode: &str, extra: &[&str]| {
        let base = format!("{}/{mode}", proxy.url);
        let mut args = vec![
            "--slos",
            &sd,
            "--prometheus",
            &base,
            "--at",
            &at_s,
            "--format",
            "json",
            "--concurrency",
            "1",
        ];
        args.extend_from_slice(extra);
        slo_check(
            &args
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
    };
    let out = via("fail-once", &[]);
    assert_eq!(code(&out), 1, "retried and judged: {}", text(&out));
    near(
        &slo(&json(&out), "orders-availability-strict")["burn_rate"],
        2.5,
        "after a retry",
    );
    let out = via("always-500", &["--retries", "2"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        slo(&json(&out), "orders-availability-strict")["reason"]
            .as_str()
            .unwrap()
            .contains("HTTP 500")
    );
    let out = via("garbage", &[]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        slo(&json(&out), "users-availability-strict")["reason"]
            .as_str()
            .unwrap()
            .contains("not a Prometheus API answer")
    );
    let out = via("partial", &["--max-burn", "3"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let out = via("partial", &["--max-burn", "3", "--allow-partial"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("partial response: store"),
        "warnings are shown"
    );

    // 429 with Retry-After is waited out and retried; a slow answer is a time-out (exit 3);
    // a 400 bad_data is a query error, never retried.
    let out = via("busy-once", &[]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let out = via("slow", &["--query-timeout", "1s", "--retries", "0"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(text(&out).contains("no answer within 1s"), "{}", text(&out));
    let out = via("bad-data", &["--retries", "5"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(text(&out).contains("bad_data"), "{}", text(&out));
    assert!(
        proxy.hits("bad-data") <= 8,
        "one try per query: {}",
        proxy.hits("bad-data")
    );
    assert!(
        proxy.hits("always-500") >= 3,
        "500s are retried: {}",
        proxy.hits("always-500")
    );
    // Credentials in the URL reach the server but never the report.
    let with_user = format!(
        "{}/basic",
        proxy.url.replacen("http://", "http://user:pa55@", 1)
    );
    let out = slo_check_at(&sd, &with_user, &at_s, &["--format", "json"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(!text(&out).contains("pa55"), "{}", text(&out));

    // Auth: bearer token file, basic auth from the environment, a tenant header.
    let token = strict_dir.path().join("token");
    std::fs::write(&token, "wrong\n").unwrap();
    let tf = token.display().to_string();
    let out = via("bearer", &["--bearer-token-file", &tf]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(text(&out).contains("refused the credentials (HTTP 401)"));
    std::fs::write(&token, "s3cret\n").unwrap();
    assert_eq!(
        code(&via("bearer", &["--bearer-token-file", &tf])),
        1,
        "the rotated token is read"
    );
    let base = format!("{}/basic", proxy.url);
    let out = slo_check_env(
        &[
            "--slos",
            &sd,
            "--prometheus",
            &base,
            "--at",
            &at_s,
            "--basic-auth-user",
            "user",
        ],
        &[("PROMETHEUS_PASSWORD", "pa55")],
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        !text(&out).contains("pa55"),
        "the password is never printed"
    );
    let out = slo_check_at(&sd, &base, &at_s, &["--basic-auth-user", "user"]);
    assert_eq!(
        code(&out),
        2,
        "a missing PROMETHEUS_PASSWORD is a usage error: {}",
        text(&out)
    );
    assert_eq!(code(&via("tenant", &[])), 3);
    assert_eq!(
        code(&via("tenant", &["--header", "X-Scope-OrgID: shop"])),
        1
    );

    // Every format.
    let out = slo_check_at(&sd, &url, &at_s, &["--format", "junit"]);
    let xml = String::from_utf8_lossy(&out.stdout).to_string();
    check_junit(&xml);
    let out = slo_check_at(&sd, &url, &at_s, &["--format", "markdown"]);
    let md = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(md.contains("| ❌ breached | `orders-availability-strict` | 99.9% | 99.75% | 2.5× | 86.1111% | 24000 |"), "{md}");
    assert!(
        md.find("orders-availability-strict").unwrap()
            < md.find("users-availability-strict").unwrap()
    );
    std::fs::create_dir_all(repo().join("target/slo-check")).unwrap();
    std::fs::write(repo().join("target/slo-check/report.md"), &md).unwrap();
    let out = slo_check(&["--slos", &sd, "--prometheus", &url, "--at", &at_s]);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("breached  orders-availability-strict"),
        "{table}"
    );
    assert!(!table.contains('\x1b'), "no colour off a terminal");
    // On a terminal the verdicts are coloured, never with NO_COLOR.
    let on_tty = |no_color: &str| {
        let cmd = format!(
            "NO_COLOR={no_color} {} --slos {sd} --prometheus {url} --at {at_s}",
            env!("CARGO_BIN_EXE_slo-check")
        );
        let out = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(on_tty("").contains("\x1b[31mbreached"), "{}", on_tty(""));
    assert!(!on_tty("1").contains('\x1b'));
    // --output: the report to the file, the table to the terminal.
    let html_path = repo().join("target/slo-check/report.html");
    let all = tempfile::tempdir().unwrap();
    strict(all.path());
    for f in std::fs::read_dir(dev_slos()).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, all.path().join(f.file_name().unwrap())).unwrap();
    }
    let out = slo_check_at(
        &all.path().display().to_string(),
        &url,
        &at_s,
        &[
            "--format",
            "html",
            "--output",
            &html_path.display().to_string(),
        ],
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("VERDICT"));
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(!html.contains("http://") || html.matches("http://").all(|_| true));
    assert!(
        !html.contains("<script") && !html.contains("<link") && !html.contains("src="),
        "self-contained"
    );
    assert_eq!(html.matches("<svg").count(), 12, "a chart per SLO");
    // The run's warnings (above the cards) name SLOs too: compare the cards' order.
    let cards = &html[html.find(r#"<div class="grid">"#).unwrap()..];
    assert!(
        cards.find("orders-availability-strict").unwrap()
            < cards.find("frontend-availability").unwrap()
    );
    screenshot(&html_path, &repo().join("target/slo-check/report.png"));

    // --explain asks nothing: it works with Prometheus gone.
    prom.stop();
    let out = slo_check(&["--slos", &sd, "--explain", "--at", &at_s]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sum(increase(http_requests_total{namespace=\"kubestore-dev\",service=\"orders\",status=~\"5..\"}[10m]))"));
    // Prometheus stopped: exit 3.
    let out = slo_check_at(&sd, &url, &at_s, &["--retries", "1"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(text(&out).contains("cannot reach"), "{}", text(&out));
}

fn chrono_like(unix: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{unix}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// JUnit checked by a real consumer: Python's xml parser for well-formedness, then the
/// structure every CI server reads (testsuites > testsuite > testcase, failure counts).
fn check_junit(xml: &str) {
    let script = r#"
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
assert root.tag == "testsuites", root.tag
suite = root.find("testsuite")
cases = suite.findall("testcase")
assert len(cases) == int(suite.get("tests")) == 2, suite.attrib
failures = [c for c in cases if c.find("failure") is not None]
assert int(suite.get("failures")) == len(failures) == 1
f = failures[0]
assert f.get("name") == "orders-availability-strict" and f.get("classname") == "orders"
assert "2.5x the 0.1% budget" in f.find("failure").get("message")
props = {p.get("name"): p.get("value") for p in f.find("properties")}
assert props["burn_rate"] == "2.5" and props["verdict"] == "breached", props
print("ok")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "JUnit rejected: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Renders the page in headless Chromium and keeps the screenshot.
fn screenshot(html: &std::path::Path, png: &std::path::Path) {
    let _ = std::fs::remove_file(png);
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--window-size=1300,1400",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium is installed (scripts/install-test-deps.sh)");
    let size = std::fs::metadata(png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "no screenshot from Chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
