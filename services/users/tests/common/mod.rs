//! Test helpers shared by the users test files: a fresh database per test and a
//! compact way to call the router.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use kubestore_users::{AppState, MIGRATOR, context, router};
use serde_json::Value;
use sqlx::MySqlPool;
use tower::ServiceExt;

/// A router plus the calls the tests make on it; cheap to clone into tasks.
#[derive(Clone)]
pub struct Client {
    pub router: Router,
}

/// A router on a fresh database.
pub struct TestApp {
    pub client: Client,
    pub pool: MySqlPool,
    pub url: String,
}

impl std::ops::Deref for TestApp {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

pub async fn setup() -> TestApp {
    let (pool, url) = kubestore_common::db::testing::fresh_database("users", &MIGRATOR).await;
    let ctx = context(pool.clone());
    let router = router(AppState { pool: pool.clone() }, &ctx);
    TestApp {
        client: Client { router },
        pool,
        url,
    }
}

impl Client {
    pub async fn raw(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "non-JSON answer ({status}): {e}: {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, value)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut builder = Request::builder().method(method).uri(path);
        let body = match body {
            Some(v) => {
                builder = builder.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.raw(builder.body(body).expect("request")).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn user(&self, email: &str) -> i64 {
        let (status, body) = self
            .post(
                "/v1/users",
                serde_json::json!({"email": email, "name": "Test User"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().expect("id")
    }
}

impl TestApp {
    pub async fn cleanup(self) {
        self.pool.close().await;
        kubestore_common::db::testing::drop_database(&self.url).await;
    }
}
