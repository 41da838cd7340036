//! Running a service binary under test (`CARGO_BIN_EXE_<name>`): an environment
//! of only what the test sets, a raw HTTP probe that needs no async runtime, and the
//! SIGTERM drain every service promises (readiness 503, still serving, exit 0).

use kubestore_common::runtime::env;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// `bin` with the variables in `unset` removed, so the developer's shell cannot
/// leak in, and `RUST_LOG=warn`.
pub fn command(bin: &str, unset: &[&str]) -> Command {
    let mut command = Command::new(bin);
    for name in unset {
        command.env_remove(name);
    }
    command.env(env::RUST_LOG, "warn");
    command
}

/// A free local port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status code of `GET path` on `127.0.0.1:port` with a raw HTTP/1.1 request,
/// or None when nothing answers.
pub fn status_of(port: u16, path: &str) -> Option<u16> {
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

/// Asserts that a malformed `name=value` stopped the binary at start-up with a
/// message naming the variable (or its flag).
pub fn assert_rejected(output: &std::process::Output, name: &str, value: &str) {
    assert!(!output.status.success(), "{name}={value} was accepted");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(name) || stderr.contains(&name.to_lowercase().replace('_', "-")),
        "{name}={value}: {stderr}"
    );
}

/// Asserts that `serve` of the binary that `command` builds documents `IDEMPOTENCY_KEY_TTL`
/// with its default in `--help`, and refuses a malformed one at start-up: what every
/// service that stores Idempotency-Key answers promises.
pub fn assert_reads_key_ttl(command: impl Fn() -> Command) {
    let output = command().args(["serve", "--help"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains(env::IDEMPOTENCY_KEY_TTL), "{help}");
    assert!(help.contains("[default: 24h]"), "{help}");
    for value in ["0", "1.5h", "366d"] {
        let output = command()
            .arg("serve")
            .env(env::LISTEN_ADDR, "127.0.0.1:0")
            .env(env::IDEMPOTENCY_KEY_TTL, value)
            .output()
            .unwrap();
        assert_rejected(&output, env::IDEMPOTENCY_KEY_TTL, value);
    }
}

/// A server process; killed if the test fails before it exits by itself.
pub struct Running(pub Child);

impl Running {
    /// Waits (up to 10 s) until `/readyz` answers 200.
    pub fn wait_ready(&self, port: u16) {
        let started = Instant::now();
        while status_of(port, kubestore_common::runtime::READYZ_PATH) != Some(200) {
            assert!(started.elapsed() < Duration::from_secs(10), "never ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }

    /// Asserts that it exits with 0 within 10 s.
    pub fn assert_exits_zero(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                assert!(status.success(), "{status}");
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
