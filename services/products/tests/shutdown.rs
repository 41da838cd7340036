//! Graceful shutdown of the real `products` binary under load: on SIGTERM `/readyz`
//! turns 503 at once, requests keep being served (new connections included) during
//! the drain period, none fails, and the process exits 0.

use kubestore_products::MIGRATOR;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "products never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_without_failing_requests_and_exits_zero() {
    let url = kubestore_testkit::mysql::fresh_database_url("shutdown", &MIGRATOR).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_products"))
        .arg("serve")
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &url)
        .env("DRAIN_SECONDS", "2")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start products");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    wait_ready(&client, &base).await;
    let created: serde_json::Value = client
        .post(format!("{base}/v1/products"))
        .header("content-type", "application/json")
        .body(r#"{"sku":"drain","name":"Drain","price_cents":100,"stock":5}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        let path = format!("{base}/v1/products/{id}");
        workers.push(tokio::spawn(async move {
            // Half the workers open a new connection per request, to prove the
            // listener still accepts while draining.
            let pooled = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            let started = Instant::now();
            while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(15) {
                let client = if w % 2 == 0 {
                    pooled.clone()
                } else {
                    reqwest::Client::builder()
                        .timeout(Duration::from_secs(5))
                        .pool_max_idle_per_host(0)
                        .build()
                        .unwrap()
                };
                match client.get(&path).send().await {
                    Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::SeqCst),
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = ok.load(Ordering::SeqCst);
    assert!(before > 0, "no load before SIGTERM");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let signalled = Instant::now();
    let mut readyz = 0;
    while signalled.elapsed() < Duration::from_millis(500) {
        readyz = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if readyz == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(readyz, 503, "readyz did not turn 503 right after SIGTERM");
    assert!(signalled.elapsed() < Duration::from_millis(500));

    // Keep the load on for most of the drain period, as the endpoints controller
    // would until it stops routing to the pod.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let during = ok.load(Ordering::SeqCst) - before;
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    assert!(during > 0, "nothing was served while draining");
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "requests failed during the drain"
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("products did not exit after the drain period");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(exit.code(), Some(0), "exit status {exit:?}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "exited before the drain period ended"
    );
    kubestore_testkit::mysql::drop_database(&url).await;
}
