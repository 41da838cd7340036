//! The real users, products and orders services (fresh MariaDB databases,
//! served in-process on 127.0.0.1 ephemeral ports) for checkouts that must
//! make real orders and take real stock.

use std::time::Duration;

use kubestore_common::config::UpstreamArgs;
use kubestore_testkit::mysql::fresh_database;
use serde_json::{Value, json};

use super::serve_fresh;

/// Base URLs of users, products and orders.
pub struct Backends {
    pub users: String,
    pub products: String,
    pub orders: String,
}

pub async fn start_backends() -> Backends {
    let (pool, _) = fresh_database("cart_users", &kubestore_users::MIGRATOR).await;
    let users = serve_fresh(kubestore_users::service(kubestore_users::AppState { pool }).0).await;

    let (pool, _) = fresh_database("cart_products", &kubestore_products::MIGRATOR).await;
    let products =
        serve_fresh(kubestore_products::service(kubestore_products::AppState { pool }).0).await;

    let args = UpstreamArgs {
        upstream_timeout: Duration::from_secs(5),
        upstream_retries: 1,
    };
    let (pool, _) = fresh_database("cart_orders", &kubestore_orders::MIGRATOR).await;
    let deps = kubestore_orders::upstream::Dependencies {
        users_url: users.clone(),
        products_url: products.clone(),
    };
    let upstream = kubestore_orders::upstream::Upstreams::new(&deps, &args).unwrap();
    let orders =
        serve_fresh(kubestore_orders::service(kubestore_orders::AppState::new(pool, upstream)).0)
            .await;
    Backends {
        users,
        products,
        orders,
    }
}

pub async fn post_json(url: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201, "{url}");
    response.json().await.unwrap()
}

pub async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

pub async fn create_user(b: &Backends, email: &str) -> i64 {
    post_json(
        &format!("{}/v1/users", b.users),
        json!({"email": email, "name": "Test"}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

pub async fn create_product(b: &Backends, sku: &str, price_cents: i64, stock: i64) -> i64 {
    post_json(
        &format!("{}/v1/products", b.products),
        json!({"sku": sku, "name": sku, "price_cents": price_cents, "stock": stock}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

pub async fn stock(b: &Backends, id: i64) -> i64 {
    get_json(&format!("{}/v1/products/{id}", b.products)).await["stock"]
        .as_i64()
        .unwrap()
}

pub async fn orders_of(b: &Backends, user: i64) -> Vec<Value> {
    get_json(&format!("{}/v1/orders?user_id={user}", b.orders)).await["items"]
        .as_array()
        .unwrap()
        .clone()
}
