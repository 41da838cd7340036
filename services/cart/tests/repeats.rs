//! Every cart route the mesh retries answers a repeat of a success with the
//! same success, on the real Redis: the routes the generator's catalogue marks
//! `Idempotency::Always`, and checkout with an `Idempotency-Key` (`WithHeader`;
//! see idempotent_checkout.rs for it against the real orders service).

mod support;

use axum::http::StatusCode;
use reqwest::Method;
use serde_json::json;
use support::*;

#[tokio::test]
async fn get_a_cart_twice() {
    let fake = FakeUpstream::with_products([1]);
    let cart = start_cart(CartOptions::new(&fake.start().await)).await;
    cart.put("read", "1", json!(2)).await;
    let (status, body) = cart.twice(Method::GET, "/v1/carts/read", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(items_of(&body), vec![(1, 2)]);
}

#[tokio::test]
async fn put_a_line_twice() {
    let fake = FakeUpstream::with_products([1, 2]);
    let cart = start_cart(CartOptions::new(&fake.start().await)).await;
    cart.put("set", "2", json!(1)).await;
    let (status, body) = cart
        .twice(
            Method::PUT,
            "/v1/carts/set/items/1",
            Some(json!({"quantity": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // A quantity is set, not added: twice is still 3.
    assert_eq!(items_of(&body), vec![(1, 3), (2, 1)]);
    let (status, body) = cart
        .twice(
            Method::PUT,
            "/v1/carts/set/items/2",
            Some(json!({"quantity": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(items_of(&body), vec![(1, 3)]);
}

#[tokio::test]
async fn delete_a_cart_twice() {
    let fake = FakeUpstream::with_products([1]);
    let cart = start_cart(CartOptions::new(&fake.start().await)).await;
    cart.put("gone", "1", json!(1)).await;
    let (status, _) = cart.twice(Method::DELETE, "/v1/carts/gone", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(cart.items("gone").await.is_empty());
}

#[tokio::test]
async fn check_out_twice_with_a_key() {
    let fake = FakeUpstream::with_products([1]);
    let cart = start_cart(CartOptions::new(&fake.start().await)).await;
    cart.put("keyed", "1", json!(2)).await;
    let first = cart.checkout_keyed("keyed", json!(3), "twice").await;
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    assert_eq!(cart.checkout_keyed("keyed", json!(3), "twice").await, first);
    assert_eq!(fake.orders_made(), 1);
}
