//! The same known history in VictoriaMetrics, which serves the Prometheus query API from
//! another engine: SLIs, burn rates, budgets and verdicts agree with Prometheus to 4
//! decimals. And `--soak` against live samples pushed into it.

mod support;

use std::time::Duration;

use support::*;

#[test]
fn victoria_metrics_agrees_with_prometheus() {
    let at = at();
    let at_s = at.to_string();
    let prom = prometheus(at);
    let vm = victoria(Some(at));
    let dir = tempfile::tempdir().unwrap();
    strict(dir.path());
    for f in std::fs::read_dir(repo().join("gitops/slo/dev")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    let d = dir.path().display().to_string();
    let run = |url: &str| {
        let out = slo_check_at(&d, url, &at_s, &["--format", "json"]);
        assert_eq!(code(&out), 1, "{}", text(&out));
        json(&out)
    };
    let (p, v) = (run(&prom.url), run(&vm.url));
    assert_eq!(p["slos"].as_array().unwrap().len(), 12);
    agree(&p, &v, "VictoriaMetrics");
}

#[test]
fn soak_fails_fast_on_a_fast_burn_and_passes_a_clean_soak() {
    let vm = victoria(None);
    let dir = tempfile::tempdir().unwrap();
    let q = |svc: &str, bad: bool| {
        format!(
            "sum(http_requests_total{{namespace=\"{NS}\",service=\"{svc}\"{}}})",
            if bad { ",status=~\"5..\"" } else { "" }
        )
    };
    openslo(
        dir.path(),
        "burning",
        "burning",
        0.999,
        "1d",
        ("bad", &q("burning", true), &q("burning", false)),
    );
    let clean = tempfile::tempdir().unwrap();
    openslo(
        clean.path(),
        "steady",
        "steady",
        0.999,
        "1d",
        ("bad", &q("steady", true), &q("steady", false)),
    );
    // A writer pushes one sample a second per series: `burning` fails half its requests
    // from the start, `steady` none.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let port = vm.port;
        std::thread::spawn(move || {
            let server_url = format!("http://127.0.0.1:{port}");
            let _ = server_url;
            let mut n = 0.0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis();
                n += 50.0;
                let mut text = String::new();
                for (svc, bad) in [("burning", n / 2.0), ("steady", 0.0)] {
                    text.push_str(&format!(
                        "http_requests_total{{namespace=\"{NS}\",service=\"{svc}\",status=\"200\"}} {} {now}\n\
                         http_requests_total{{namespace=\"{NS}\",service=\"{svc}\",status=\"500\"}} {bad} {now}\n",
                        n - bad
                    ));
                }
                push(port, &text);
                std::thread::sleep(Duration::from_millis(1000));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let out = slo_check(&[
        "--slos",
        &dir.path().display().to_string(),
        "--prometheus",
        &vm.url,
        "--soak",
        "20s",
        "--interval",
        "3s",
        "--min-events",
        "10",
        "--format",
        "json",
    ]);
    let took = started.elapsed();
    assert_eq!(code(&out), 1, "{}", text(&out));
    let r = json(&out);
    assert!(
        r["note"].as_str().unwrap().contains("stopped after"),
        "{r:#}"
    );
    assert!(
        slo(&r, "burning")["reason"]
            .as_str()
            .unwrap()
            .starts_with("fast burn:"),
        "{r:#}"
    );
    assert!(
        took < Duration::from_secs(20),
        "stopped before the soak's end ({took:?})"
    );

    let out = slo_check(&[
        "--slos",
        &clean.path().display().to_string(),
        "--prometheus",
        &vm.url,
        "--soak",
        "6s",
        "--interval",
        "2s",
        "--min-events",
        "10",
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let r = json(&out);
    assert_eq!(r["window"], "6s", "the verdict covers the whole soak");
    assert!(r["note"].as_str().unwrap().contains("completed"));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
}

fn push(port: u16, text: &str) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /api/v1/import/prometheus HTTP/1.0\r\nHost: x\r\nContent-Length: {}\r\n\r\n{text}",
        text.len()
    )
    .unwrap();
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
}
