//! The `users` binary itself: `serve` reads `IDEMPOTENCY_KEY_TTL` as the cart does,
//! and removes the expired rows of `idempotency_keys` as soon as it starts.

use kubestore_testkit::binary::{self, Running, free_port};
use kubestore_testkit::mysql::{drop_database, fresh_database};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn users() -> Command {
    binary::command(
        env!("CARGO_BIN_EXE_users"),
        &[
            "LISTEN_ADDR",
            "DATABASE_URL",
            "IDEMPOTENCY_KEY_TTL",
            "DRAIN_SECONDS",
        ],
    )
}

#[test]
fn serve_reads_the_key_ttl_and_refuses_a_malformed_one() {
    binary::assert_reads_key_ttl(users);
}

#[tokio::test]
async fn serve_removes_expired_keys_and_keeps_the_others() {
    let (pool, url) = fresh_database("usersbin", &kubestore_users::MIGRATOR).await;
    for (key, hours_ago) in [("expired", 3), ("kept", 1)] {
        sqlx::query(
            "INSERT INTO idempotency_keys (idem_key, fingerprint, owner, response, claimed_at) \
             VALUES (?, 'f', REPEAT('0', 32), '{}', UTC_TIMESTAMP(3) - INTERVAL ? HOUR)",
        )
        .bind(key)
        .bind(hours_ago)
        .execute(&pool)
        .await
        .unwrap();
    }
    let port = free_port();
    let mut child = Running(
        users()
            .arg("serve")
            .env("DATABASE_URL", &url)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("IDEMPOTENCY_KEY_TTL", "2h")
            .env("DRAIN_SECONDS", "0")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    child.wait_ready(port);

    let started = Instant::now();
    let left = loop {
        let left: Vec<String> = sqlx::query_scalar("SELECT idem_key FROM idempotency_keys")
            .fetch_all(&pool)
            .await
            .unwrap();
        if left.len() < 2 || started.elapsed() > Duration::from_secs(10) {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(left, ["kept"]);

    child.terminate();
    child.assert_exits_zero();
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.0.stdout.take().unwrap(), &mut log).unwrap();
    let swept = log
        .lines()
        .find(|line| line.contains("expired idempotency keys removed"))
        .unwrap_or_else(|| panic!("no sweep logged: {log}"));
    assert!(swept.contains(r#""removed":1"#), "{swept}");
    assert!(
        log.contains(r#"\"IDEMPOTENCY_KEY_TTL\":\"7200s\""#),
        "{log}"
    );
    pool.close().await;
    drop_database(&url).await;
}

#[test]
fn serve_reads_what_the_catalogue_says_it_needs() {
    kubestore_testkit::catalogue::assert_matches_catalogue::<kubestore_users::cli::Users>();
}
