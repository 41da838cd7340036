//! Idempotency keys expire: the sweep `users serve` runs deletes the answers
//! older than `IDEMPOTENCY_KEY_TTL` and the claims abandoned beyond their lease,
//! and keeps the rest, against a real MariaDB database. Rows are aged by moving
//! their `claimed_at` back, not by waiting.

mod common;

use axum::http::{Method, StatusCode};
use kubestore_common::idempotency::mysql::{Retention, sweep};
use kubestore_testkit::router::send;
use serde_json::{Value, json};
use std::time::Duration;

const DAY: Retention = Retention {
    ttl: Duration::from_secs(86_400),
    lease: Duration::from_secs(30),
};

async fn sign_up(app: &common::TestApp, key: &str, email: &str) -> (StatusCode, Value) {
    send(
        &app.router,
        Method::POST,
        "/v1/users",
        &[("idempotency-key", key)],
        Some(json!({"email": email, "name": "Kept"})),
    )
    .await
}

/// Moves the claim of `key` back by `seconds`.
async fn age(app: &common::TestApp, key: &str, seconds: i64) {
    sqlx::query(
        "UPDATE idempotency_keys SET claimed_at = claimed_at - INTERVAL ? SECOND \
         WHERE idem_key = ?",
    )
    .bind(seconds)
    .bind(key)
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn keys(app: &common::TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT idem_key FROM idempotency_keys ORDER BY idem_key")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_answer_older_than_the_ttl_is_swept_and_its_key_runs_again() {
    let app = common::setup().await;
    let (status, first) = sign_up(&app, "old-1", "old@example.com").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    age(&app, "old-1", 86_400 + 60).await;

    assert_eq!(sweep(&app.pool, DAY).await.unwrap(), 1);
    assert!(keys(&app).await.is_empty());

    // No answer to replay: the sign-up runs again and finds the account.
    let (status, again) = sign_up(&app, "old-1", "old@example.com").await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["error"]["code"], "email_taken");
    // Nor is the key tied to its first request any more.
    let (status, other) = sign_up(&app, "old-1", "new@example.com").await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    assert_ne!(other["id"], first["id"]);
    app.cleanup().await;
}

#[tokio::test]
async fn a_fresh_answer_survives_the_sweep_and_still_replays() {
    let app = common::setup().await;
    let (status, first) = sign_up(&app, "fresh-1", "fresh@example.com").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    age(&app, "fresh-1", 86_400 - 60).await;

    assert_eq!(sweep(&app.pool, DAY).await.unwrap(), 0);

    let (status, again) = sign_up(&app, "fresh-1", "fresh@example.com").await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again, first);
    app.cleanup().await;
}

#[tokio::test]
async fn an_unfinished_claim_goes_only_once_older_than_its_lease() {
    let app = common::setup().await;
    for (key, seconds_ago) in [("running", 10), ("abandoned", 40)] {
        sqlx::query(
            "INSERT INTO idempotency_keys (idem_key, fingerprint, owner, claimed_at) \
             VALUES (?, 'f', ?, UTC_TIMESTAMP(3) - INTERVAL ? SECOND)",
        )
        .bind(key)
        .bind(format!("{:032}", 0))
        .bind(seconds_ago)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    // Both are past a one-second TTL; only the older is past the lease too.
    let short = Retention {
        ttl: Duration::from_secs(1),
        lease: Duration::from_secs(30),
    };

    assert_eq!(sweep(&app.pool, short).await.unwrap(), 1);
    assert_eq!(keys(&app).await, ["running"]);
    app.cleanup().await;
}

#[tokio::test]
async fn a_sweep_removes_more_rows_than_one_batch() {
    let app = common::setup().await;
    sqlx::query(
        "INSERT INTO idempotency_keys (idem_key, fingerprint, owner, response, claimed_at) \
         SELECT CONCAT('k-', seq), 'f', REPEAT('0', 32), '{}', UTC_TIMESTAMP(3) - INTERVAL 2 DAY \
         FROM seq_1_to_2500",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    assert_eq!(sweep(&app.pool, DAY).await.unwrap(), 2500);
    assert!(keys(&app).await.is_empty());
    app.cleanup().await;
}
