//! The `cart` binary itself: `migrate` checks Redis, a malformed variable stops
//! it at start-up, and `serve` drains on SIGTERM and exits 0.

use kubestore_testkit::binary::{self, Running, free_port, status_of};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REDIS_URL: &str = "redis://127.0.0.1:6379/0";

fn cart() -> Command {
    // Only what a test sets: the developer's shell must not leak in.
    binary::command(
        env!("CARGO_BIN_EXE_cart"),
        &[
            "LISTEN_ADDR",
            "REDIS_URL",
            "CART_IDLE_TTL",
            "IDEMPOTENCY_KEY_TTL",
            "IDEMPOTENCY_WAIT",
            "DRAIN_SECONDS",
            "RUST_LOG",
        ],
    )
}

#[test]
fn migrate_checks_that_redis_answers() {
    let output = cart()
        .arg("migrate")
        .env("REDIS_URL", REDIS_URL)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");

    let closed = format!("redis://127.0.0.1:{}/0", free_port());
    let started = Instant::now();
    let output = cart()
        .arg("migrate")
        .env("REDIS_URL", &closed)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Redis"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn malformed_variables_stop_it_at_start_up() {
    for (name, value) in [
        ("CART_IDLE_TTL", "7w"),
        ("CART_IDLE_TTL", "0"),
        ("IDEMPOTENCY_KEY_TTL", "0"),
        ("IDEMPOTENCY_KEY_TTL", "1.5h"),
        ("IDEMPOTENCY_WAIT", "soon"),
        ("LISTEN_ADDR", "nowhere"),
        ("REDIS_URL", "http://not-redis"),
        ("PRODUCTS_URL", "products:8082"),
        ("ORDERS_URL", "ftp://orders"),
    ] {
        let output = cart()
            .arg("serve")
            .env("REDIS_URL", REDIS_URL)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env(name, value)
            .output()
            .unwrap();
        binary::assert_rejected(&output, name, value);
    }
}

#[test]
fn serve_drains_on_sigterm_and_exits_zero() {
    let port = free_port();
    let mut child = Running(
        cart()
            .arg("serve")
            .env("REDIS_URL", REDIS_URL)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("DRAIN_SECONDS", "1")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    child.wait_ready(port);

    child.terminate();
    // Draining: not ready, but still serving.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(status_of(port, "/readyz"), Some(503));
    assert_eq!(status_of(port, "/healthz"), Some(200));

    child.assert_exits_zero();
}

#[test]
fn serve_reads_what_the_catalogue_says_it_needs() {
    kubestore_testkit::catalogue::assert_matches_catalogue::<kubestore_cart::cli::Cart>();
}
