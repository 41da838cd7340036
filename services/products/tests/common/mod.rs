//! Test helpers shared by the products test files: the products router on a fresh
//! database (see [`kubestore_testkit`]) and the calls only products tests make.

#![allow(dead_code)]

use axum::http::StatusCode;
use kubestore_products::{AppState, MIGRATOR, service};
use sqlx::MySqlPool;

/// The products router on a fresh database.
pub type TestApp = kubestore_testkit::TestApp<Client>;

/// A products router plus the calls the tests make on it; cheap to clone into tasks.
#[derive(Clone)]
pub struct Client {
    client: kubestore_testkit::Client,
    /// The database, for [`Client::reserved`].
    pool: MySqlPool,
}

impl std::ops::Deref for Client {
    type Target = kubestore_testkit::Client;
    fn deref(&self) -> &kubestore_testkit::Client {
        &self.client
    }
}

pub async fn setup() -> TestApp {
    TestApp::start("products", &MIGRATOR, |pool| {
        let router = service(AppState { pool: pool.clone() }).0;
        Client {
            client: kubestore_testkit::Client::new(router),
            pool,
        }
    })
    .await
}

impl Client {
    pub async fn product(&self, sku: &str, price: i64, stock: i64) -> i64 {
        let (status, body) = self
            .post(
                "/v1/products",
                serde_json::json!({"sku": sku, "name": format!("Product {sku}"), "price_cents": price, "stock": stock}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().expect("id")
    }

    pub async fn stock(&self, id: i64) -> i64 {
        let (status, body) = self.get(&format!("/v1/products/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["stock"].as_i64().expect("stock")
    }

    /// Units held by active reservations for `product_id`.
    pub async fn reserved(&self, product_id: i64) -> i64 {
        sqlx::query_scalar::<_, i64>(
            "SELECT CAST(COALESCE(SUM(i.quantity), 0) AS SIGNED) FROM reservation_items i \
             JOIN reservations r ON r.order_ref = i.order_ref \
             WHERE r.status = 'active' AND i.product_id = ?",
        )
        .bind(product_id)
        .fetch_one(&self.pool)
        .await
        .expect("reserved")
    }
}
