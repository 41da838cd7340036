//! Idempotency keys expire: the sweep `orders serve` runs deletes the answers
//! older than `IDEMPOTENCY_KEY_TTL` and keeps the younger ones and the claims
//! still within their lease. Real users and products servers, real MariaDB
//! databases; rows are aged by moving their `claimed_at` back, not by waiting.

mod common;

use axum::http::StatusCode;
use kubestore_common::idempotency::mysql::{Retention, sweep};
use serde_json::{Value, json};
use std::time::Duration;

const DAY: Retention = Retention {
    ttl: Duration::from_secs(86_400),
    lease: Duration::from_secs(30),
};

/// Moves every claim back by `seconds`.
async fn age(s: &common::Stack, seconds: i64) {
    sqlx::query("UPDATE idempotency_keys SET claimed_at = claimed_at - INTERVAL ? SECOND")
        .bind(seconds)
        .execute(&s.pool)
        .await
        .unwrap();
}

async fn orders_of(s: &common::Stack, user: i64) -> usize {
    let (_, list) = s.get(&format!("/v1/orders?user_id={user}")).await;
    list["items"].as_array().unwrap().len()
}

async fn keyed_order(s: &common::Stack, body: &Value) -> Value {
    let (status, order) = s.order(Some("retained-1"), body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    order
}

#[tokio::test]
async fn an_answer_older_than_the_ttl_is_swept_and_its_key_places_a_new_order() {
    let s = common::stack().await;
    let user = s.user("expired@example.com").await;
    let product = s.product("E-1", 400, 10).await;
    let body = json!({"user_id": user, "items": [{"product_id": product, "quantity": 2}]});
    let first = keyed_order(&s, &body).await;
    age(&s, 86_400 + 60).await;

    assert_eq!(sweep(&s.pool, DAY).await.unwrap(), 1);

    let again = keyed_order(&s, &body).await;
    assert_ne!(again["id"], first["id"]);
    assert_eq!(orders_of(&s, user).await, 2);
    assert_eq!(s.stock(product).await, 6);
    s.cleanup().await;
}

#[tokio::test]
async fn a_fresh_answer_survives_the_sweep_and_still_replays() {
    let s = common::stack().await;
    let user = s.user("fresh@example.com").await;
    let product = s.product("F-1", 400, 10).await;
    let body = json!({"user_id": user, "items": [{"product_id": product, "quantity": 2}]});
    let first = keyed_order(&s, &body).await;
    age(&s, 86_400 - 60).await;

    assert_eq!(sweep(&s.pool, DAY).await.unwrap(), 0);

    let again = keyed_order(&s, &body).await;
    assert_eq!(again, first);
    assert_eq!(orders_of(&s, user).await, 1);
    assert_eq!(s.stock(product).await, 8);
    s.cleanup().await;
}

#[tokio::test]
async fn a_claim_within_its_lease_survives_a_sweep_past_the_ttl() {
    let s = common::stack().await;
    sqlx::query(
        "INSERT INTO idempotency_keys (idem_key, fingerprint, owner, claimed_at) \
         VALUES ('running', 'f', REPEAT('0', 32), UTC_TIMESTAMP(3) - INTERVAL 10 SECOND)",
    )
    .execute(&s.pool)
    .await
    .unwrap();
    let short = Retention {
        ttl: Duration::from_secs(1),
        lease: Duration::from_secs(30),
    };

    assert_eq!(sweep(&s.pool, short).await.unwrap(), 0);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(left, 1);
    s.cleanup().await;
}
