//! The `frontend` binary itself: a malformed variable stops it at start-up,
//! and `serve` drains on SIGTERM and exits 0.

use kubestore_testkit::binary::{self, Running, free_port, status_of};
use std::process::{Command, Stdio};
use std::time::Duration;

fn frontend() -> Command {
    // Only what a test sets: the developer's shell must not leak in.
    binary::command(
        env!("CARGO_BIN_EXE_frontend"),
        &[
            "LISTEN_ADDR",
            "PRODUCTS_URL",
            "CART_URL",
            "ORDERS_URL",
            "USERS_URL",
            "DRAIN_SECONDS",
            "COOKIE_SECURE",
            "CHECKOUT_TIMEOUT",
        ],
    )
}

#[test]
fn malformed_variables_stop_it_at_start_up() {
    for (name, value) in [
        ("PRODUCTS_URL", "products:8082"),
        ("COOKIE_SECURE", "maybe"),
        ("DRAIN_SECONDS", "soon"),
        ("CHECKOUT_TIMEOUT", "-1s"),
    ] {
        let output = frontend()
            .arg("serve")
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
    // Backends that are all down: the frontend is ready regardless.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut child = Running(
        frontend()
            .arg("serve")
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("PRODUCTS_URL", &dead)
            .env("CART_URL", &dead)
            .env("ORDERS_URL", &dead)
            .env("USERS_URL", &dead)
            .env("DRAIN_SECONDS", "1")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    child.wait_ready(port);
    assert_eq!(status_of(port, "/"), Some(503));

    child.terminate();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(status_of(port, "/readyz"), Some(503));
    assert_eq!(status_of(port, "/healthz"), Some(200));

    child.assert_exits_zero();
}

#[test]
fn serve_reads_what_the_catalogue_says_it_needs() {
    kubestore_testkit::catalogue::assert_matches_catalogue::<kubestore_frontend::cli::Frontend>();
}
