//! When users or products are down or hang, orders answers a fast 503
//! `dependency_unavailable` with `Retry-After`, and works again once they are back.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kubestore_common::config::UpstreamArgs;
use kubestore_testkit::mysql::fresh_database;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// An address nothing listens on (until a test binds it again).
async fn closed_addr() -> std::net::SocketAddr {
    let l = common::local_listener().await;
    l.local_addr().unwrap()
}

async fn post_order(
    router: &axum::Router,
    body: serde_json::Value,
) -> (StatusCode, Option<String>, serde_json::Value) {
    let req = Request::post("/v1/orders")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, retry_after, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn users_down_is_a_fast_503_and_recovers() {
    let products = common::start_products(common::local_listener().await, None).await;
    let users_addr = closed_addr().await;
    let (pool, db_url) = fresh_database("orddep", &kubestore_orders::MIGRATOR).await;
    let router = common::orders_router(
        pool.clone(),
        &format!("http://{users_addr}"),
        &products.base(),
        &UpstreamArgs::default(),
    );

    let started = Instant::now();
    let (status, retry_after, body) = post_order(
        &router,
        json!({"user_id": 1, "items": [{"product_id": 1, "quantity": 1}]}),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "dependency_unavailable");
    assert_eq!(body["error"]["dependency"], "users");
    assert!(retry_after.is_some());
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "took {:?}",
        started.elapsed()
    );
    // Readiness looks at the orders database only: no cascade.
    let resp = router
        .clone()
        .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // users comes back on the same address.
    let mut users = common::start_users(TcpListener::bind(users_addr).await.unwrap(), None).await;
    let http = reqwest::Client::new();
    let user = post_json(
        &http,
        format!("{}/v1/users", users.base()),
        json!({"email": "back@example.com", "name": "Back"}),
    )
    .await;
    let product = post_json(
        &http,
        format!("{}/v1/products", products.base()),
        json!({"sku": "S", "name": "S", "price_cents": 5, "stock": 2}),
    )
    .await;
    let (status, _, body) = post_order(
        &router,
        json!({"user_id": user["id"], "items": [{"product_id": product["id"], "quantity": 1}]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    users.stop().await;
    let mut products = products;
    products.stop().await;
    for url in [&db_url, &users.db_url, &products.db_url] {
        kubestore_testkit::mysql::drop_database(url).await;
    }
}

#[tokio::test]
async fn products_down_is_a_fast_503_and_recovers() {
    let users = common::start_users(common::local_listener().await, None).await;
    let products_addr = closed_addr().await;
    let (pool, db_url) = fresh_database("orddep", &kubestore_orders::MIGRATOR).await;
    let router = common::orders_router(
        pool.clone(),
        &users.base(),
        &format!("http://{products_addr}"),
        &UpstreamArgs::default(),
    );
    let http = reqwest::Client::new();
    let user = post_json(
        &http,
        format!("{}/v1/users", users.base()),
        json!({"email": "p@example.com", "name": "P"}),
    )
    .await;

    let started = Instant::now();
    let (status, retry_after, body) = post_order(
        &router,
        json!({"user_id": user["id"], "items": [{"product_id": 1, "quantity": 1}]}),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["dependency"], "products");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "took {:?}",
        started.elapsed()
    );
    let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(orders, 0);

    let mut products =
        common::start_products(TcpListener::bind(products_addr).await.unwrap(), None).await;
    let product = post_json(
        &http,
        format!("{}/v1/products", products.base()),
        json!({"sku": "S", "name": "S", "price_cents": 5, "stock": 2}),
    )
    .await;
    let (status, _, body) = post_order(
        &router,
        json!({"user_id": user["id"], "items": [{"product_id": product["id"], "quantity": 1}]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let mut users = users;
    users.stop().await;
    products.stop().await;
    for url in [&db_url, &users.db_url, &products.db_url] {
        kubestore_testkit::mysql::drop_database(url).await;
    }
}

#[tokio::test]
async fn a_hanging_dependency_times_out_into_a_503() {
    // Accepts connections and never answers.
    let hang = common::local_listener().await;
    let hang_addr = hang.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hang.accept().await {
            held.push(socket);
        }
    });
    let products = common::start_products(common::local_listener().await, None).await;
    let (pool, db_url) = fresh_database("orddep", &kubestore_orders::MIGRATOR).await;
    let args = UpstreamArgs {
        upstream_timeout: Duration::from_millis(300),
        upstream_retries: 1,
    };
    let router = common::orders_router(
        pool,
        &format!("http://{hang_addr}"),
        &products.base(),
        &args,
    );
    let started = Instant::now();
    let (status, _, body) = post_order(
        &router,
        json!({"user_id": 1, "items": [{"product_id": 1, "quantity": 1}]}),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["dependency"], "users");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_millis(1500),
        "took {took:?}"
    );
    holder.abort();
    let mut products = products;
    products.stop().await;
    kubestore_testkit::mysql::drop_database(&db_url).await;
    kubestore_testkit::mysql::drop_database(&products.db_url).await;
}

#[tokio::test]
async fn a_known_user_can_order_while_users_is_down() {
    let s = common::stack().await;
    let user = s.user("known@example.com").await;
    let a = s.product("A", 10, 10).await;
    let body = json!({"user_id": user, "items": [{"product_id": a, "quantity": 1}]});
    let (status, _) = s.order(None, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut s = s;
    s.users.stop().await;
    // Users cannot be deleted, so the earlier answer still holds.
    let (status, answer) = s.order(None, body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // Anyone not seen before still needs users: fast 503.
    let (status, answer) = s
        .order(
            None,
            json!({"user_id": user + 1, "items": [{"product_id": a, "quantity": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(s.stock(a).await, 8);
    s.cleanup().await;
}

/// POSTs `body` to `url` and returns the JSON answer.
async fn post_json(
    http: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> serde_json::Value {
    http.post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
