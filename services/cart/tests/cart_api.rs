//! The cart's HTTP contract against the real Redis, with products and orders
//! played by a stand-in whose behaviour each test sets.

mod support;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use reqwest::Method;
use serde_json::json;
use support::*;
use tokio::net::TcpListener;

#[tokio::test]
async fn put_get_delete_round_trip() {
    let fake = FakeUpstream::with_products([1, 2, 3]);
    let cart = start_cart(CartOptions::new(&fake.start().await)).await;

    let (status, body) = cart.get("new-cart").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"cart_id": "new-cart", "items": []}));

    let (status, body) = cart.put("c1", "3", json!(2)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"cart_id": "c1", "items": [{"product_id": 3, "quantity": 2}]})
    );
    cart.put("c1", "1", json!(5)).await;
    cart.put("c1", "3", json!(7)).await;
    assert_eq!(cart.items("c1").await, vec![(1, 5), (3, 7)]);

    // Quantity 0 removes the line; removing an absent line is fine too.
    let (status, body) = cart.put("c1", "1", json!(0)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(items_of(&body), vec![(3, 7)]);
    let (status, _) = cart.put("c1", "2", json!(0)).await;
    assert_eq!(status, StatusCode::OK);

    let response = cart.call(Method::DELETE, "/v1/carts/c1").await;
    assert_eq!(response.status().as_u16(), 204);
    assert!(cart.items("c1").await.is_empty());
    // Deleting an unknown cart is also 204.
    let response = cart.call(Method::DELETE, "/v1/carts/never-was").await;
    assert_eq!(response.status().as_u16(), 204);
}

#[tokio::test]
async fn unknown_product_is_422_and_removal_needs_no_lookup() {
    let fake = FakeUpstream::with_products([1]);
    let cart = start_cart(CartOptions::new(&fake.start().await)).await;
    let (status, body) = cart.put("c", "999", json!(1)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&body), "unknown_product");
    assert_eq!(body["error"]["product_id"], 999);
    assert!(cart.items("c").await.is_empty());

    let lookups = fake.get(|b| b.product_lookups);
    let (status, _) = cart.put("c", "999", json!(0)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fake.get(|b| b.product_lookups), lookups);
}

#[tokio::test]
async fn bad_input_is_4xx_json_never_500() {
    let fake = FakeUpstream::with_products([1]);
    let cart = start_cart(CartOptions::new(&fake.start().await)).await;

    // Field validation: 422 naming the field.
    for (cart_id, product, quantity, field) in [
        ("c", "1", json!(-1), "quantity"),
        ("c", "1", json!(1001), "quantity"),
        ("c", "1", json!("1"), "quantity"),
        ("c", "1", json!(1.5), "quantity"),
        ("c", "1", json!(null), "quantity"),
        ("c", "1", json!(true), "quantity"),
        ("c", "1", json!(99_999_999_999_999_999_999_f64), "quantity"),
        ("c", "0", json!(1), "product_id"),
        ("c", "-1", json!(1), "product_id"),
        ("c", "abc", json!(1), "product_id"),
        ("c", "9223372036854775808", json!(1), "product_id"),
        ("a.b", "1", json!(1), "cart_id"),
        (&"x".repeat(65), "1", json!(1), "cart_id"),
        ("%C3%A9", "1", json!(1), "cart_id"),
        ("%FF", "1", json!(1), "cart_id"),
    ] {
        let (status, body) = cart.put(cart_id, product, quantity.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{cart_id} {product} {quantity}: {body}"
        );
        assert_eq!(code(&body), "validation_failed");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let (status, body) = cart.get("a.b").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = cart.get(&"x".repeat(64)).await;
    assert_eq!(status, StatusCode::OK);

    let url = format!("{}/v1/carts/c/items/1", cart.url);
    let raw = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = cart.http.put(&url).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request
    };
    for (request, expected) in [
        (raw(r#"{"quantity": 1}"#, None), 400),
        (raw(r#"{"quantity": 1}"#, Some("text/plain")), 400),
        (raw(r#"{"quantity": 1"#, Some("application/json")), 400),
        (raw(r#"[1]"#, Some("application/json")), 400),
        (raw(r#"{}"#, Some("application/json")), 422),
        (
            raw(
                r#"{"quantity": 1}"#,
                Some("application/json; charset=utf-8"),
            ),
            200,
        ),
        (
            raw(r#"{"quantity": 1}"#, Some("application/merge-patch+json")),
            200,
        ),
    ] {
        let (status, body) = into_parts(request.send().await.unwrap()).await;
        assert_eq!(status.as_u16(), expected, "{body}");
    }

    // 64 KiB is the limit.
    let big = format!(r#"{{"quantity": 1, "pad": "{}"}}"#, "x".repeat(70_000));
    let response = cart
        .http
        .put(&url)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let (status, _) = into_parts(response).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Unknown routes and wrong methods answer JSON too.
    let response = cart.call(Method::GET, "/v1/nothing").await;
    let (status, body) = into_parts(response).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let response = cart.call(Method::POST, "/v1/carts/c").await;
    let (status, _) = into_parts(response).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // Checkout input.
    for user_id in [json!(0), json!(-5), json!("7"), json!(null), json!(1.5)] {
        let (status, body) = cart.checkout("c", user_id.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{user_id}: {body}"
        );
        assert_eq!(body["error"]["field"], "user_id");
    }
}

#[tokio::test]
async fn a_cart_holds_at_most_fifty_lines() {
    let fake = FakeUpstream::with_products(1..=60);
    let cart = start_cart(CartOptions::new(&fake.start().await)).await;
    for id in 1..=50 {
        let (status, body) = cart.put("full", &id.to_string(), json!(1)).await;
        assert_eq!(status, StatusCode::OK, "{id}: {body}");
    }
    let (status, body) = cart.put("full", "51", json!(1)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&body), "validation_failed");
    assert_eq!(cart.items("full").await.len(), 50);
    // Changing an existing line is still allowed, and removing makes room.
    assert_eq!(cart.put("full", "50", json!(9)).await.0, StatusCode::OK);
    assert_eq!(cart.put("full", "1", json!(0)).await.0, StatusCode::OK);
    assert_eq!(cart.put("full", "51", json!(1)).await.0, StatusCode::OK);
    assert_eq!(
        cart.put("full", "52", json!(1)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn the_line_limit_holds_under_concurrent_writers() {
    let fake = FakeUpstream::with_products(1..=60);
    let cart = start_cart(CartOptions::new(&fake.start().await)).await;
    let cart = std::sync::Arc::new(cart);
    let mut tasks = tokio::task::JoinSet::new();
    for id in 1..=60u64 {
        let cart = cart.clone();
        tasks.spawn(async move { cart.put("race", &id.to_string(), json!(1)).await.0 });
    }
    let mut ok = 0;
    while let Some(status) = tasks.join_next().await {
        match status.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 50);
    assert_eq!(cart.items("race").await.len(), 50);
}

#[tokio::test]
async fn idle_ttl_is_set_and_refreshed() {
    let fake = FakeUpstream::with_products([1, 2]);
    let mut options = CartOptions::new(&fake.start().await);
    options.idle_ttl = Duration::from_secs(1000);
    let cart = start_cart(options).await;

    cart.put("ttl", "1", json!(1)).await;
    let ttl = cart.store.ttl("ttl").await.unwrap().expect("a TTL");
    assert!(
        ttl > Duration::from_secs(990) && ttl <= Duration::from_secs(1000),
        "{ttl:?}"
    );

    // Pretend time passed, then a write restarts the idle time...
    shorten_ttl(&cart, "ttl").await;
    cart.put("ttl", "2", json!(3)).await;
    assert!(cart.store.ttl("ttl").await.unwrap().unwrap() > Duration::from_secs(990));
    // ...and so does removing a line, and reading the cart.
    shorten_ttl(&cart, "ttl").await;
    cart.put("ttl", "2", json!(0)).await;
    assert!(cart.store.ttl("ttl").await.unwrap().unwrap() > Duration::from_secs(990));
    shorten_ttl(&cart, "ttl").await;
    cart.get("ttl").await;
    assert!(cart.store.ttl("ttl").await.unwrap().unwrap() > Duration::from_secs(990));
}

/// Sets the cart key's TTL to 10 s, as if it had been idle for a while.
async fn shorten_ttl(cart: &Cart, cart_id: &str) {
    let ttl = cart.store.ttl(cart_id).await.unwrap().unwrap();
    let client = redis::Client::open(REDIS_URL).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = cart.store.key_of(cart_id);
    let _: () = redis::cmd("EXPIRE")
        .arg(&key)
        .arg(10)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > Duration::from_secs(10));
    assert!(cart.store.ttl(cart_id).await.unwrap().unwrap() <= Duration::from_secs(10));
}

#[tokio::test]
async fn checkout_makes_the_order_and_empties_the_cart() {
    let fake = FakeUpstream::with_products([1, 2]);
    let cart = start_cart(CartOptions::new(&fake.start().await)).await;

    let (status, body) = cart.checkout("empty", json!(1)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "empty_cart")
    );

    cart.put("buy", "1", json!(2)).await;
    cart.put("buy", "2", json!(1)).await;
    let (status, order) = cart.checkout("buy", json!(7)).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["user_id"], 7);
    assert_eq!(order["total_cents"], 2 * 100 + 200);
    assert!(cart.items("buy").await.is_empty());
    let (key, body) = fake.get(|b| b.order_requests[0].clone());
    assert!(key.unwrap().starts_with("cart-"));
    assert_eq!(
        body,
        json!({"user_id": 7, "items": [{"product_id": 1, "quantity": 2}, {"product_id": 2, "quantity": 1}]})
    );

    // Buying the same contents again is a new order.
    cart.put("buy", "1", json!(2)).await;
    cart.put("buy", "2", json!(1)).await;
    let (status, again) = cart.checkout("buy", json!(7)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(again["id"], order["id"]);
    assert_eq!(fake.orders_made(), 2);
}

#[tokio::test]
async fn a_retried_checkout_makes_one_order() {
    let fake = FakeUpstream::with_products([1]);
    let mut options = CartOptions::new(&fake.start().await);
    options.checkout_timeout = Duration::from_millis(300);
    let cart = start_cart(options).await;
    cart.put("retry", "1", json!(3)).await;

    // orders makes the order but answers too late: the client sees a 503 and
    // the cart stays as it was...
    fake.set(|b| b.order_delay = Some(Duration::from_secs(2)));
    let (status, body) = cart.checkout("retry", json!(1)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(code(&body), "dependency_unavailable");
    assert_eq!(body["error"]["dependency"], "orders");
    assert_eq!(fake.orders_made(), 1);
    assert_eq!(cart.items("retry").await, vec![(1, 3)]);

    // ...and the retry gets that same order, not a second one.
    fake.set(|b| b.order_delay = None);
    let (status, order) = cart.checkout("retry", json!(1)).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["id"], 1);
    assert_eq!(fake.orders_made(), 1);
    let keys: Vec<_> = fake.get(|b| b.order_requests.iter().map(|r| r.0.clone()).collect());
    assert!(
        keys.len() >= 2 && keys.windows(2).all(|w| w[0] == w[1]),
        "{keys:?}"
    );
    assert!(cart.items("retry").await.is_empty());
}

#[tokio::test]
async fn a_failed_checkout_leaves_the_cart() {
    let fake = FakeUpstream::with_products([1, 2]);
    let cart = start_cart(CartOptions::new(&fake.start().await)).await;
    cart.put("keep", "1", json!(1)).await;
    cart.put("keep", "2", json!(4)).await;

    fake.set(|b| b.reject_orders = Some((StatusCode::CONFLICT, "insufficient_stock")));
    let (status, body) = cart.checkout("keep", json!(1)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&body), "insufficient_stock");
    assert_eq!(body["error"]["product_id"], 1);
    assert_eq!(cart.items("keep").await, vec![(1, 1), (2, 4)]);

    fake.set(|b| b.reject_orders = Some((StatusCode::UNPROCESSABLE_ENTITY, "unknown_user")));
    let (status, body) = cart.checkout("keep", json!(99)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_user")
    );
    assert_eq!(cart.items("keep").await, vec![(1, 1), (2, 4)]);

    fake.set(|b| {
        b.reject_orders = None;
        b.fail_with = Some(StatusCode::INTERNAL_SERVER_ERROR);
    });
    let (status, body) = cart.checkout("keep", json!(1)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(cart.items("keep").await, vec![(1, 1), (2, 4)]);

    fake.set(|b| b.fail_with = None);
    let (status, _) = cart.checkout("keep", json!(1)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(fake.orders_made(), 1);
}

#[tokio::test]
async fn dependencies_down_give_a_fast_503_and_recover() {
    let products_addr = closed_port().await;
    let orders_addr = closed_port().await;
    let fake = FakeUpstream::with_products([1]);
    let mut options = CartOptions::new("unused");
    options.products_url = format!("http://{products_addr}");
    options.orders_url = format!("http://{orders_addr}");
    let cart = start_cart(options).await;

    let started = Instant::now();
    let (status, body) = cart.put("down", "1", json!(1)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["dependency"], "products");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Reading and removing need neither products nor orders.
    assert_eq!(cart.get("down").await.0, StatusCode::OK);
    assert_eq!(cart.put("down", "1", json!(0)).await.0, StatusCode::OK);

    // products comes back.
    fake.serve_on(TcpListener::bind(products_addr).await.unwrap());
    let (status, body) = cart.put("down", "1", json!(2)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let started = Instant::now();
    let (status, body) = cart.checkout("down", json!(1)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["dependency"], "orders");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(cart.items("down").await, vec![(1, 2)]);

    // orders comes back.
    fake.serve_on(TcpListener::bind(orders_addr).await.unwrap());
    let (status, order) = cart.checkout("down", json!(1)).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert!(cart.items("down").await.is_empty());
}

#[tokio::test]
async fn readiness_follows_redis_and_redis_down_is_503() {
    let fake = FakeUpstream::with_products([1]);
    let upstream = fake.start().await;
    let cart = start_cart(CartOptions::new(&upstream)).await;
    let response = cart.call(Method::GET, "/readyz").await;
    assert_eq!(response.status().as_u16(), 200);

    let mut options = CartOptions::new(&upstream);
    options.redis_url = format!("redis://{}/0", closed_port().await);
    let cart = start_cart(options).await;
    let response = cart.call(Method::GET, "/readyz").await;
    let (status, body) = into_parts(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["dependency"], "redis");
    let response = cart.call(Method::GET, "/healthz").await;
    assert_eq!(response.status().as_u16(), 200);

    let started = Instant::now();
    let (status, body) = cart.get("c").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["dependency"], "redis");
    let (status, _) = cart.put("c", "1", json!(1)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn metrics_use_route_templates() {
    let fake = FakeUpstream::with_products([1]);
    let cart = start_cart(CartOptions::new(&fake.start().await)).await;
    cart.put("m1", "1", json!(1)).await;
    cart.get("m2").await;
    let text = cart
        .call(Method::GET, "/metrics")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"route="/v1/carts/{cart_id}/items/{product_id}""#),
        "{text}"
    );
    assert!(text.contains(r#"service="cart""#));
    assert!(!text.contains("m1") && !text.contains("m2"));
}
