//! Checkout against the real users, products and orders services (fresh
//! MariaDB databases, served in-process on 127.0.0.1 ephemeral ports): one
//! order per retried checkout, a new order for the same contents bought again,
//! and a failed checkout that leaves cart and stock as they were.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use support::real::*;
use support::*;

#[tokio::test]
async fn checkout_through_the_real_orders_service() {
    let b = start_backends().await;
    let user = create_user(&b, "buyer@example.com").await;
    let mug = create_product(&b, "MUG", 1250, 10).await;
    let pot = create_product(&b, "POT", 3000, 2).await;
    let cart = start_cart(CartOptions {
        products_url: b.products.clone(),
        orders_url: b.orders.clone(),
        ..CartOptions::new("http://unused")
    })
    .await;

    // The product must exist in the real catalogue.
    let (status, body) = cart.put("real", "999999", json!(1)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_product")
    );

    cart.put("real", &mug.to_string(), json!(2)).await;
    cart.put("real", &pot.to_string(), json!(1)).await;

    // Unknown user and too little stock: refused as orders said, nothing changes.
    let (status, body) = cart.checkout("real", json!(987_654)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_user")
    );
    cart.put("real", &pot.to_string(), json!(3)).await;
    let (status, body) = cart.checkout("real", json!(user)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "insufficient_stock"),
        "{body}"
    );
    assert_eq!(cart.items("real").await.len(), 2);
    assert_eq!((stock(&b, mug).await, stock(&b, pot).await), (10, 2));

    // A good checkout makes the order, takes the stock and empties the cart.
    cart.put("real", &pot.to_string(), json!(1)).await;
    let (status, order) = cart.checkout("real", json!(user)).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["total_cents"], 2 * 1250 + 3000);
    assert_eq!(order["status"], "confirmed");
    assert!(cart.items("real").await.is_empty());
    assert_eq!((stock(&b, mug).await, stock(&b, pot).await), (8, 1));

    // The same contents bought again are a second order.
    cart.put("real", &mug.to_string(), json!(2)).await;
    cart.put("real", &pot.to_string(), json!(1)).await;
    let (status, again) = cart.checkout("real", json!(user)).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_ne!(again["id"], order["id"]);
    assert_eq!(orders_of(&b, user).await.len(), 2);
    assert_eq!((stock(&b, mug).await, stock(&b, pot).await), (6, 0));
}

/// Forwards order creation to the real orders service but, for the first
/// `lose` requests, holds the answer back past the cart's timeout, as a
/// network that loses responses would.
#[derive(Clone)]
struct LossyOrders {
    target: String,
    lose: Arc<AtomicU32>,
}

async fn lossy_create(
    State(proxy): State<LossyOrders>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/orders", proxy.target))
        .header("content-type", "application/json")
        .body(body);
    if let Some(key) = headers.get("idempotency-key") {
        request = request.header("idempotency-key", key.to_str().unwrap());
    }
    let response = request.send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let bytes = response.bytes().await.unwrap();
    let lost = proxy
        .lose
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if lost {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    (status, [("content-type", "application/json")], bytes).into_response()
}

#[tokio::test]
async fn a_checkout_whose_answer_was_lost_makes_one_order_when_retried() {
    let b = start_backends().await;
    let user = create_user(&b, "retry@example.com").await;
    let mug = create_product(&b, "MUG", 1250, 10).await;
    let proxy = LossyOrders {
        target: b.orders.clone(),
        // The cart itself retries once: both of its attempts lose their answer.
        lose: Arc::new(AtomicU32::new(2)),
    };
    let proxy_url = serve_fresh(
        Router::new()
            .route("/v1/orders", post(lossy_create))
            .with_state(proxy),
    )
    .await;
    let cart = start_cart(CartOptions {
        products_url: b.products.clone(),
        orders_url: proxy_url,
        checkout_timeout: Duration::from_millis(1000),
        ..CartOptions::new("http://unused")
    })
    .await;
    cart.put("lossy", &mug.to_string(), json!(4)).await;

    // The order was made, but the client only saw a 503: the cart is kept.
    let (status, body) = cart.checkout("lossy", json!(user)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(cart.items("lossy").await, vec![(mug as u64, 4)]);
    assert_eq!(orders_of(&b, user).await.len(), 1);
    assert_eq!(stock(&b, mug).await, 6);

    // The client retries: the same key replays that order; nothing new is made.
    let (status, order) = cart.checkout("lossy", json!(user)).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let orders = orders_of(&b, user).await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["id"], order["id"]);
    assert_eq!(stock(&b, mug).await, 6);
    assert!(cart.items("lossy").await.is_empty());
}
