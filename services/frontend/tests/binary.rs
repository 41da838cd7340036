//! The `frontend` binary itself: a malformed variable stops it at start-up,
//! and `serve` drains on SIGTERM and exits 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn frontend() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_frontend"));
    // Only what a test sets: the developer's shell must not leak in.
    for name in [
        "LISTEN_ADDR",
        "PRODUCTS_URL",
        "CART_URL",
        "ORDERS_URL",
        "USERS_URL",
        "DRAIN_SECONDS",
        "COOKIE_SECURE",
        "CHECKOUT_TIMEOUT",
    ] {
        command.env_remove(name);
    }
    command.env("RUST_LOG", "warn");
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
        assert!(!output.status.success(), "{name}={value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(name) || stderr.contains(&name.to_lowercase().replace('_', "-")),
            "{name}={value}: {stderr}"
        );
    }
}

/// The status code of `GET path`, or None when nothing answers.
fn status_of(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split(' ').nth(1)?.parse().ok()
}

/// Kills the server if the test fails before it exits by itself.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
    let started = Instant::now();
    while status_of(port, "/readyz") != Some(200) {
        assert!(started.elapsed() < Duration::from_secs(10), "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status_of(port, "/"), Some(503));

    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(status_of(port, "/readyz"), Some(503));
    assert_eq!(status_of(port, "/healthz"), Some(200));

    let started = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}
