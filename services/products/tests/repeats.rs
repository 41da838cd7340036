//! Every products route the mesh retries (`Idempotency::Always` in the
//! generator's catalogue) answers a repeat of a success with the same success,
//! and a repeated reservation or release moves stock once, against a real
//! MariaDB database.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn get_products_twice() {
    let app = common::setup().await;
    let first = app.product("A-1", 100, 1).await;
    app.product("A-2", 200, 2).await;
    let (status, page) = app.twice(Method::GET, "/v1/products?limit=1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"][0]["id"], first);
    app.cleanup().await;
}

#[tokio::test]
async fn get_a_product_twice() {
    let app = common::setup().await;
    let id = app.product("B-1", 450, 7).await;
    let (status, product) = app
        .twice(Method::GET, &format!("/v1/products/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(product["stock"], 7);
    app.cleanup().await;
}

#[tokio::test]
async fn a_repeated_reservation_is_the_same_reservation_and_takes_stock_once() {
    let app = common::setup().await;
    let id = app.product("C-1", 300, 10).await;
    let body = json!({"order_ref": "o-repeat", "items": [{"product_id": id, "quantity": 4}]});
    let (status, reservation) = app
        .twice(Method::POST, "/v1/reservations", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(reservation["total_cents"], 1200);
    assert_eq!(app.stock(id).await, 6);
    assert_eq!(app.reserved(id).await, 4);
    app.cleanup().await;
}

#[tokio::test]
async fn a_repeated_release_gives_the_stock_back_once() {
    let app = common::setup().await;
    let id = app.product("D-1", 300, 10).await;
    let (status, _) = app
        .post(
            "/v1/reservations",
            json!({"order_ref": "o-release", "items": [{"product_id": id, "quantity": 3}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .twice(Method::DELETE, "/v1/reservations/o-release", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.stock(id).await, 10);
    assert_eq!(app.reserved(id).await, 0);
    app.cleanup().await;
}
