//! Test harness: the cart served on `127.0.0.1:0` against the real Redis, each
//! test under its own key prefix so tests run in parallel, with a stand-in for
//! products and orders whose behaviour a test controls (slow, failing, down).
//!
//! The stand-in keeps orders' idempotency rule (same key and body: the first
//! response again), which is what the cart's checkout relies on.

#![allow(dead_code)] // each test file uses a different part of the harness

pub mod real;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kubestore_cart::store::{KeySettings, Store, StoreConfig};
use kubestore_cart::upstream::{Dependencies, Upstreams};
use kubestore_cart::{AppState, service};
use kubestore_common::config::UpstreamArgs;
use kubestore_common::config::parse_ttl;
use kubestore_common::limits::MAX_LINES;
#[allow(unused_imports)] // each test file uses a different part of the harness
pub use kubestore_testkit::serve::{closed_port, serve, serve_fresh};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Redis of the test environment.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379/0";

/// A key prefix no other test (or earlier run) uses.
pub fn unique_prefix() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "test:{}:{nanos}:{}:cart:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// What the stand-in for products and orders does; tests change it on the fly.
#[derive(Default)]
pub struct Behaviour {
    /// Product ids that exist.
    pub products: BTreeSet<u64>,
    /// Answer every call with this status instead (e.g. 500).
    pub fail_with: Option<StatusCode>,
    /// Answer order creation with this error (status, code) after no side effect.
    pub reject_orders: Option<(StatusCode, &'static str)>,
    /// Create the order, then wait this long before answering.
    pub order_delay: Option<Duration>,
    /// Orders made, by idempotency key: (request body, response).
    pub orders_by_key: HashMap<String, (Value, Value)>,
    /// Every order creation request, with its key.
    pub order_requests: Vec<(Option<String>, Value)>,
    /// Product lookups seen.
    pub product_lookups: u64,
}

/// The stand-in for products and orders.
#[derive(Clone, Default)]
pub struct FakeUpstream {
    pub behaviour: Arc<Mutex<Behaviour>>,
    next_order: Arc<AtomicU64>,
}

impl FakeUpstream {
    /// A stand-in knowing products `ids`.
    pub fn with_products(ids: impl IntoIterator<Item = u64>) -> Self {
        let fake = Self::default();
        fake.behaviour.lock().unwrap().products = ids.into_iter().collect();
        fake
    }

    /// Changes the behaviour.
    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.behaviour.lock().unwrap());
    }

    /// Reads the behaviour.
    pub fn get<T>(&self, f: impl FnOnce(&Behaviour) -> T) -> T {
        f(&self.behaviour.lock().unwrap())
    }

    /// Number of distinct orders made.
    pub fn orders_made(&self) -> usize {
        self.get(|b| b.orders_by_key.len())
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/v1/products/{id}", get(fake_product))
            .route("/v1/orders", post(fake_create_order))
            .with_state(self.clone())
    }

    /// Serves the stand-in on `listener` until the test ends.
    pub fn serve_on(&self, listener: TcpListener) {
        serve(listener, self.router());
    }

    /// Serves the stand-in on a fresh port and returns its base URL.
    pub async fn start(&self) -> String {
        serve_fresh(self.router()).await
    }
}

async fn fake_product(State(fake): State<FakeUpstream>, Path(id): Path<u64>) -> Response {
    let mut b = fake.behaviour.lock().unwrap();
    b.product_lookups += 1;
    if let Some(status) = b.fail_with {
        return status.into_response();
    }
    if b.products.contains(&id) {
        axum::Json(
            json!({"id": id, "sku": format!("SKU-{id}"), "name": format!("Product {id}"),
            "description": null, "price_cents": 100 * id, "stock": 1000,
            "created_at": "2026-01-01T00:00:00.000Z"}),
        )
        .into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"code": "not_found", "message": "product not found"}})),
        )
            .into_response()
    }
}

async fn fake_create_order(
    State(fake): State<FakeUpstream>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (outcome, delay) = {
        let mut b = fake.behaviour.lock().unwrap();
        b.order_requests.push((key.clone(), body.clone()));
        if let Some(status) = b.fail_with {
            return status.into_response();
        }
        if let Some((status, code)) = b.reject_orders {
            let error = json!({"error": {"code": code, "message": format!("rejected: {code}"), "product_id": 1}});
            return (status, axum::Json(error)).into_response();
        }
        let outcome = match key.as_ref().and_then(|k| b.orders_by_key.get(k)) {
            Some((first_body, response)) if *first_body == body => Ok(response.clone()),
            Some(_) => Err(StatusCode::UNPROCESSABLE_ENTITY),
            None => {
                let id = fake.next_order.fetch_add(1, Ordering::SeqCst) + 1;
                let items: Vec<Value> = body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|it| {
                        let pid = it["product_id"].as_u64().unwrap();
                        json!({"product_id": pid, "quantity": it["quantity"], "unit_price_cents": 100 * pid})
                    })
                    .collect();
                let total: u64 = items
                    .iter()
                    .map(|it| {
                        it["quantity"].as_u64().unwrap() * it["unit_price_cents"].as_u64().unwrap()
                    })
                    .sum();
                let order = json!({"id": id, "user_id": body["user_id"], "items": items,
                    "total_cents": total, "status": "confirmed",
                    "created_at": "2026-01-01T00:00:00.000Z"});
                b.orders_by_key.insert(
                    key.clone().unwrap_or_else(|| format!("no-key-{id}")),
                    (body.clone(), order.clone()),
                );
                Ok(order)
            }
        };
        (outcome, b.order_delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    match outcome {
        Ok(order) => (StatusCode::CREATED, axum::Json(order)).into_response(),
        Err(status) => (
            status,
            axum::Json(json!({"error": {"code": "idempotency_key_reused", "message": "reused"}})),
        )
            .into_response(),
    }
}

/// A cart service under test.
pub struct Cart {
    /// Its base URL.
    pub url: String,
    /// Its store, to look at Redis directly.
    pub store: Arc<Store>,
    /// An HTTP client for the test.
    pub http: reqwest::Client,
}

/// Settings of a cart under test.
pub struct CartOptions {
    pub products_url: String,
    pub orders_url: String,
    pub redis_url: String,
    pub idle_ttl: Duration,
    pub checkout_timeout: Duration,
    pub keys: KeySettings,
}

impl CartOptions {
    /// products and orders both at `upstream`.
    pub fn new(upstream: &str) -> Self {
        Self {
            products_url: upstream.to_owned(),
            orders_url: upstream.to_owned(),
            redis_url: REDIS_URL.to_owned(),
            // Short, so what tests leave in Redis goes away soon.
            idle_ttl: parse_ttl("1h").unwrap(),
            checkout_timeout: Duration::from_secs(5),
            keys: KeySettings {
                ttl: Duration::from_secs(3600),
                lease: Duration::from_secs(30),
                wait: Duration::from_secs(10),
            },
        }
    }
}

/// Starts a cart with `options` on `127.0.0.1:0`.
pub async fn start_cart(options: CartOptions) -> Cart {
    let store = Arc::new(Store::new(
        redis::Client::open(options.redis_url.as_str()).unwrap(),
        StoreConfig {
            key_prefix: unique_prefix(),
            idle_ttl: options.idle_ttl,
            max_lines: MAX_LINES,
            timeout: Duration::from_millis(500),
            keys: options.keys,
        },
    ));
    let deps = Dependencies {
        products_url: options.products_url,
        orders_url: options.orders_url,
        checkout_timeout: options.checkout_timeout,
    };
    let args = UpstreamArgs {
        upstream_timeout: Duration::from_secs(2),
        upstream_retries: 1,
    };
    let upstream = Upstreams::new(&deps, &args).unwrap();
    let state = AppState {
        store: store.clone(),
        upstream,
    };
    let (router, _ctx) = service(state);
    Cart {
        url: serve_fresh(router).await,
        store,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
    }
}

impl Cart {
    /// A bodiless request to `path` (e.g. `/readyz`), answered as it came.
    pub async fn call(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.http
            .request(method, format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// `PUT /v1/carts/{cart}/items/{product}` with `{"quantity": quantity}`.
    pub async fn put(&self, cart: &str, product: &str, quantity: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .put(format!("{}/v1/carts/{cart}/items/{product}", self.url))
            .json(&json!({ "quantity": quantity }))
            .send()
            .await
            .unwrap();
        into_parts(response).await
    }

    /// `GET /v1/carts/{cart}`.
    pub async fn get(&self, cart: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}/v1/carts/{cart}", self.url))
            .send()
            .await
            .unwrap();
        into_parts(response).await
    }

    /// `POST /v1/carts/{cart}/checkout` with `{"user_id": user_id}`.
    pub async fn checkout(&self, cart: &str, user_id: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/v1/carts/{cart}/checkout", self.url))
            .json(&json!({ "user_id": user_id }))
            .send()
            .await
            .unwrap();
        into_parts(response).await
    }

    /// `POST /v1/carts/{cart}/checkout` with `{"user_id": user_id}` and the
    /// `Idempotency-Key` `key`: status and the exact body text.
    pub async fn checkout_keyed(
        &self,
        cart: &str,
        user_id: Value,
        key: &str,
    ) -> (StatusCode, String) {
        let response = self
            .http
            .post(format!("{}/v1/carts/{cart}/checkout", self.url))
            .header("idempotency-key", key)
            .json(&json!({ "user_id": user_id }))
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.text().await.unwrap())
    }

    /// Sends the identical request twice and asserts that the first succeeded
    /// and the repeat got the same status and body (what the mesh relies on
    /// to retry a route); returns that answer.
    pub async fn twice(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let send = || {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.url));
            if let Some(body) = &body {
                request = request.json(body);
            }
            async move { into_parts(request.send().await.unwrap()).await }
        };
        let first = send().await;
        assert!(
            first.0.is_success(),
            "{method} {path}: {} {}",
            first.0,
            first.1
        );
        let repeat = send().await;
        assert_eq!(
            repeat, first,
            "{method} {path}: the repeat got another answer"
        );
        first
    }

    /// The items of a cart as `[(product_id, quantity)]`.
    pub async fn items(&self, cart: &str) -> Vec<(u64, u64)> {
        let (status, body) = self.get(cart).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        items_of(&body)
    }
}

/// `[(product_id, quantity)]` of a cart body.
pub fn items_of(body: &Value) -> Vec<(u64, u64)> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {body}"))
        .iter()
        .map(|it| {
            (
                it["product_id"].as_u64().unwrap(),
                it["quantity"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Status and JSON body; panics when the body is not JSON, since every answer
/// of the service must be.
pub async fn into_parts(response: reqwest::Response) -> (StatusCode, Value) {
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let retry_after = response.headers().get("retry-after").cloned();
    let text = response.text().await.unwrap();
    if status == StatusCode::NO_CONTENT {
        return (status, Value::Null);
    }
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text:.200}"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        assert!(retry_after.is_some(), "503 without Retry-After: {body}");
    }
    (status, body)
}

/// The error code of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}
