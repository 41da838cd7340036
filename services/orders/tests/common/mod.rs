//! Test helpers for orders: real users and products servers on 127.0.0.1:0 (each
//! on its own fresh database), and an orders router wired to them.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use kubestore_common::config::UpstreamArgs;
use kubestore_orders::upstream::{Dependencies, Upstreams};
use kubestore_orders::{AppState, MIGRATOR, service};
use kubestore_testkit::mysql::{drop_database, fresh_database};
use kubestore_testkit::router::{raw, send};
use kubestore_testkit::serve::Stoppable;
pub use kubestore_testkit::serve::local_listener;
use serde_json::{Value, json};
use sqlx::MySqlPool;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// A dependency served for real over TCP, on its own database.
pub struct Dep {
    pub addr: SocketAddr,
    pub pool: MySqlPool,
    pub db_url: String,
    server: Stoppable,
}

impl Dep {
    fn start(
        listener: TcpListener,
        (pool, db_url): (MySqlPool, String),
        app: Router,
        ctx: kubestore_common::ServiceContext,
    ) -> Self {
        let server = Stoppable::start(listener, app, ctx);
        Self {
            addr: server.addr,
            pool,
            db_url,
            server,
        }
    }

    pub fn base(&self) -> String {
        self.server.base()
    }

    /// Stops serving and waits until the port is closed.
    pub async fn stop(&mut self) {
        self.server.stop().await;
    }
}

/// Serves users on `listener`, with the database at `db` (a fresh one when None).
pub async fn start_users(listener: TcpListener, db: Option<(MySqlPool, String)>) -> Dep {
    let db = match db {
        Some(d) => d,
        None => fresh_database("ordusers", &kubestore_users::MIGRATOR).await,
    };
    let (app, ctx) = kubestore_users::service(kubestore_users::AppState { pool: db.0.clone() });
    Dep::start(listener, db, app, ctx)
}

/// Serves products on `listener`.
pub async fn start_products(listener: TcpListener, db: Option<(MySqlPool, String)>) -> Dep {
    let db = match db {
        Some(d) => d,
        None => fresh_database("ordproducts", &kubestore_products::MIGRATOR).await,
    };
    let (app, ctx) =
        kubestore_products::service(kubestore_products::AppState { pool: db.0.clone() });
    Dep::start(listener, db, app, ctx)
}

pub fn orders_router(pool: MySqlPool, users: &str, products: &str, args: &UpstreamArgs) -> Router {
    let deps = Dependencies {
        users_url: users.to_owned(),
        products_url: products.to_owned(),
    };
    let upstreams = Upstreams::new(&deps, args).unwrap();
    service(AppState::new(pool, upstreams)).0
}

/// The orders router plus calls on it.
#[derive(Clone)]
pub struct Client {
    pub router: Router,
}

impl Client {
    pub async fn raw(&self, req: Request<Body>) -> (StatusCode, Value) {
        raw(&self.router, req).await
    }

    /// `method path` with an `Idempotency-Key` when `key` is given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let headers: Vec<_> = key
            .map(|key| ("idempotency-key", key))
            .into_iter()
            .collect();
        send(&self.router, method, path, &headers, body).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None, None).await
    }

    pub async fn order(&self, key: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, "/v1/orders", key, Some(body)).await
    }
}

/// users + products servers and an orders router on fresh databases.
pub struct Stack {
    pub client: Client,
    pub pool: MySqlPool,
    pub db_url: String,
    pub users: Dep,
    pub products: Dep,
    pub http: reqwest::Client,
}

impl std::ops::Deref for Stack {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

pub async fn stack() -> Stack {
    let users = start_users(local_listener().await, None).await;
    let products = start_products(local_listener().await, None).await;
    let (pool, db_url) = fresh_database("orders", &MIGRATOR).await;
    let router = orders_router(
        pool.clone(),
        &users.base(),
        &products.base(),
        &UpstreamArgs::default(),
    );
    Stack {
        client: Client { router },
        pool,
        db_url,
        users,
        products,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    }
}

impl Stack {
    pub async fn user(&self, email: &str) -> i64 {
        let resp = self
            .http
            .post(format!("{}/v1/users", self.users.base()))
            .json(&json!({"email": email, "name": "Buyer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    pub async fn product(&self, sku: &str, price: i64, stock: i64) -> i64 {
        let resp = self
            .http
            .post(format!("{}/v1/products", self.products.base()))
            .json(&json!({"sku": sku, "name": sku, "price_cents": price, "stock": stock}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    pub async fn set_stock(&self, id: i64, stock: i64) {
        let resp = self
            .http
            .patch(format!("{}/v1/products/{id}", self.products.base()))
            .json(&json!({"stock": stock}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    pub async fn stock(&self, id: i64) -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT stock FROM products WHERE id = ?")
            .bind(id)
            .fetch_one(&self.products.pool)
            .await
            .unwrap()
    }

    /// Units of `product_id` held by active reservations.
    pub async fn reserved(&self, product_id: i64) -> i64 {
        sqlx::query_scalar::<_, i64>(
            "SELECT CAST(COALESCE(SUM(i.quantity), 0) AS SIGNED) FROM reservation_items i \
             JOIN reservations r ON r.order_ref = i.order_ref \
             WHERE r.status = 'active' AND i.product_id = ?",
        )
        .bind(product_id)
        .fetch_one(&self.products.pool)
        .await
        .unwrap()
    }

    pub async fn active_reservations(&self) -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM reservations WHERE status = 'active'")
            .fetch_one(&self.products.pool)
            .await
            .unwrap()
    }

    pub async fn order_count(&self, status: &str) -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM orders WHERE status = ?")
            .bind(status)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    pub async fn cleanup(mut self) {
        self.users.stop().await;
        self.products.stop().await;
        for url in [&self.db_url, &self.users.db_url, &self.products.db_url] {
            drop_database(url).await;
        }
    }
}
