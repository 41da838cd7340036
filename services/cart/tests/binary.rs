//! The `cart` binary itself: `migrate` checks Redis, a malformed variable stops
//! it at start-up, and `serve` drains on SIGTERM and exits 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REDIS_URL: &str = "redis://127.0.0.1:6379/0";

fn cart() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cart"));
    // Only what a test sets: the developer's shell must not leak in.
    for name in [
        "LISTEN_ADDR",
        "REDIS_URL",
        "CART_IDLE_TTL",
        "DRAIN_SECONDS",
        "RUST_LOG",
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
        assert!(!output.status.success(), "{name}={value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(name) || stderr.contains(&name.to_lowercase().replace('_', "-")),
            "{name}={value}: {stderr}"
        );
    }
}

/// `GET url` with a raw HTTP/1.1 request; the status code, or None when
/// nothing answers.
fn status_of(url_port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", url_port)).ok()?;
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
    let started = Instant::now();
    while status_of(port, "/readyz") != Some(200) {
        assert!(started.elapsed() < Duration::from_secs(10), "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }

    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Draining: not ready, but still serving.
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
