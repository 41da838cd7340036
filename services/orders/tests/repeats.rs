//! Every orders route the mesh retries answers a repeat of a success with the
//! same success: the GETs (`Idempotency::Always` in the generator's catalogue)
//! and `POST /v1/orders` with an `Idempotency-Key` (`WithHeader`), which makes
//! one order however often it is sent. Real users and products servers, real
//! MariaDB databases.

mod common;

use axum::http::{Method, StatusCode};
use kubestore_testkit::router::send_twice;
use serde_json::json;

async fn placed(s: &common::Stack) -> (i64, i64) {
    let user = s.user("repeat@example.com").await;
    let product = s.product("R-1", 500, 10).await;
    let (status, order) = s
        .order(
            None,
            json!({"user_id": user, "items": [{"product_id": product, "quantity": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    (user, order["id"].as_i64().unwrap())
}

#[tokio::test]
async fn get_orders_twice() {
    let s = common::stack().await;
    let (user, id) = placed(&s).await;
    let (status, list) = send_twice(
        &s.router,
        Method::GET,
        &format!("/v1/orders?user_id={user}"),
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["id"], id);
    s.cleanup().await;
}

#[tokio::test]
async fn get_an_order_twice() {
    let s = common::stack().await;
    let (_, id) = placed(&s).await;
    let (status, order) = send_twice(
        &s.router,
        Method::GET,
        &format!("/v1/orders/{id}"),
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order["status"], "confirmed");
    s.cleanup().await;
}

#[tokio::test]
async fn a_keyed_order_sent_twice_is_one_order() {
    let s = common::stack().await;
    let user = s.user("keyed@example.com").await;
    let product = s.product("K-1", 700, 10).await;
    let body = json!({"user_id": user, "items": [{"product_id": product, "quantity": 3}]});
    let (status, order) = send_twice(
        &s.router,
        Method::POST,
        "/v1/orders",
        &[("idempotency-key", "repeat-1")],
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(order["total_cents"], 2100);
    assert_eq!(s.stock(product).await, 7);
    let (_, list) = s.get(&format!("/v1/orders?user_id={user}")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    s.cleanup().await;
}
