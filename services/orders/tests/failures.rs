//! What happens when something fails halfway: the reservation is released (no stock
//! leaks, no half order), and an Idempotency-Key claim left by a crashed request is
//! taken over once its lease has expired.

mod common;

use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_failure_after_reserving_releases_the_stock() {
    let s = common::stack().await;
    let user = s.user("half@example.com").await;
    let a = s.product("A", 100, 10).await;
    // Storing the order will fail after products has reserved the stock.
    sqlx::query("DROP TABLE order_items")
        .execute(&s.pool)
        .await
        .unwrap();
    let (status, body) = s
        .order(
            Some("half-1"),
            json!({"user_id": user, "items": [{"product_id": a, "quantity": 4}]}),
        )
        .await;
    assert!(status.is_server_error(), "{status}: {body}");
    assert!(
        !body.to_string().contains("order_items"),
        "SQL leaked: {body}"
    );
    assert_eq!(s.stock(a).await, 10, "the reservation was not released");
    assert_eq!(s.active_reservations().await, 0);
    let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(orders, 0, "half an order remained");
    // The failed attempt stored nothing under its key.
    let claims: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(claims, 0);
    s.cleanup().await;
}

#[tokio::test]
async fn an_abandoned_claim_is_taken_over_after_its_lease() {
    let s = common::stack().await;
    let user = s.user("lease@example.com").await;
    let a = s.product("A", 100, 10).await;
    let body = json!({"user_id": user, "items": [{"product_id": a, "quantity": 1}]});
    // A claim whose owner died an hour ago, for the same request.
    sqlx::query(
        "INSERT INTO idempotency_keys (idem_key, fingerprint, owner, claimed_at) \
         VALUES ('crashed', ?, 'deadbeefdeadbeefdeadbeefdeadbeef', UTC_TIMESTAMP(3) - INTERVAL 1 HOUR)",
    )
    .bind(format!("{user}|{a}:1"))
    .execute(&s.pool)
    .await
    .unwrap();
    let (status, first) = s.order(Some("crashed"), body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = s.order(Some("crashed"), body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(s.stock(a).await, 9);
    s.cleanup().await;
}

#[tokio::test]
async fn a_twin_that_waits_too_long_gets_request_in_progress() {
    let s = common::stack().await;
    let user = s.user("wait@example.com").await;
    let a = s.product("A", 100, 10).await;
    let mut state = kubestore_orders::AppState::new(
        s.pool.clone(),
        kubestore_orders::upstream::Upstreams::new(
            &kubestore_orders::upstream::Dependencies {
                users_url: s.users.base(),
                products_url: s.products.base(),
            },
            &Default::default(),
        )
        .unwrap(),
    );
    state.idempotency.wait = std::time::Duration::from_secs(1);
    let client = common::Client {
        router: kubestore_orders::service(state).0,
    };
    // Another request owns the key and is still working: its row is uncommitted.
    let mut owner = s.pool.begin().await.unwrap();
    sqlx::query("INSERT INTO idempotency_keys (idem_key, fingerprint, owner, claimed_at) VALUES ('busy', ?, 'o', UTC_TIMESTAMP(3))")
        .bind(format!("{user}|{a}:1"))
        .execute(&mut *owner)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (status, body) = client
        .order(
            Some("busy"),
            json!({"user_id": user, "items": [{"product_id": a, "quantity": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "request_in_progress");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Once the owner gives up, the same key runs.
    owner.rollback().await.unwrap();
    let (status, body) = client
        .order(
            Some("busy"),
            json!({"user_id": user, "items": [{"product_id": a, "quantity": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(s.stock(a).await, 9);
    s.cleanup().await;
}
