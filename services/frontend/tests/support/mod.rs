//! Test harness: the whole store on `127.0.0.1` ephemeral ports (users,
//! products and orders on fresh MariaDB databases, cart on the real Redis under
//! its own key prefix, the frontend), and a headless Chromium driven through
//! chromedriver.
//!
//! Missing Chromium or chromedriver is a test failure, not a skip: CI installs
//! both (scripts/install-test-deps.sh), so their absence is a broken setup.

#![allow(dead_code)] // each test file uses a different part of the harness

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use fantoccini::{Client, ClientBuilder};
use kubestore_common::config::UpstreamArgs;
use kubestore_testkit::mysql::fresh_database;
#[allow(unused_imports)] // each test file uses a different part of the harness
pub use kubestore_testkit::serve::{closed_port, serve, serve_fresh};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The products service on a fresh database.
pub async fn products_router() -> Router {
    let (pool, _) = fresh_database("fe_products", &kubestore_products::MIGRATOR).await;
    kubestore_products::service(kubestore_products::AppState { pool }).0
}

/// The users service on a fresh database.
pub async fn users_router() -> Router {
    let (pool, _) = fresh_database("fe_users", &kubestore_users::MIGRATOR).await;
    kubestore_users::service(kubestore_users::AppState { pool }).0
}

/// The orders service on a fresh database, calling `users` and `products`.
pub async fn orders_router(users: &str, products: &str) -> Router {
    use kubestore_orders::upstream::{Dependencies, Upstreams};
    let (pool, _) = fresh_database("fe_orders", &kubestore_orders::MIGRATOR).await;
    let deps = Dependencies {
        users_url: users.to_owned(),
        products_url: products.to_owned(),
    };
    let upstream = Upstreams::new(&deps, &upstream_args()).unwrap();
    kubestore_orders::service(kubestore_orders::AppState::new(pool, upstream)).0
}

/// Upstream settings for tests: short timeouts, one retry.
pub fn upstream_args() -> UpstreamArgs {
    UpstreamArgs {
        upstream_timeout: Duration::from_secs(5),
        upstream_retries: 1,
    }
}

/// The cart service on the real Redis, under a key prefix of its own.
pub fn cart_router(products_url: &str, orders_url: &str) -> Router {
    use kubestore_cart::store::{KeySettings, Store, StoreConfig};
    use kubestore_cart::upstream::{Dependencies, Upstreams};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let store = Store::new(
        redis::Client::open("redis://127.0.0.1:6379/0").unwrap(),
        StoreConfig {
            key_prefix: format!("test:frontend:{}:{nanos}:cart:", std::process::id()),
            idle_ttl: Duration::from_secs(3600),
            max_lines: kubestore_common::limits::MAX_LINES,
            timeout: Duration::from_secs(1),
            keys: KeySettings {
                ttl: Duration::from_secs(3600),
                lease: Duration::from_secs(30),
                wait: Duration::from_secs(10),
            },
        },
    );
    let deps = Dependencies {
        products_url: products_url.to_owned(),
        orders_url: orders_url.to_owned(),
        checkout_timeout: upstream_args().upstream_timeout,
    };
    let upstream = Upstreams::new(&deps, &upstream_args()).unwrap();
    kubestore_cart::service(kubestore_cart::AppState {
        store: Arc::new(store),
        upstream,
    })
    .0
}

/// Base URLs of the store's services.
#[derive(Debug, Clone)]
pub struct StoreUrls {
    pub users: String,
    pub products: String,
    pub orders: String,
    pub cart: String,
    pub frontend: String,
}

/// The frontend calling `urls`.
pub fn frontend_router(products: &str, cart: &str, orders: &str, users: &str) -> Router {
    use kubestore_frontend::upstream::{Dependencies, Upstreams};
    let deps = Dependencies {
        products_url: products.to_owned(),
        cart_url: cart.to_owned(),
        orders_url: orders.to_owned(),
        users_url: users.to_owned(),
        checkout_timeout: Duration::from_secs(10),
    };
    let state = kubestore_frontend::AppState {
        upstream: Upstreams::new(&deps, &upstream_args()).unwrap(),
        views: Arc::new(kubestore_frontend::views::Views::new().unwrap()),
        cookie_secure: false,
    };
    kubestore_frontend::service(state).0
}

/// An HTTP client for seeding data and checking statuses.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The JSON answer of `GET url` on one of the store's APIs.
pub async fn get_json(url: String) -> Value {
    http().get(url).send().await.unwrap().json().await.unwrap()
}

/// Creates a customer through the users API and returns their id.
pub async fn create_user(users: &str, email: &str, name: &str) -> i64 {
    let response = http()
        .post(format!("{users}/v1/users"))
        .json(&json!({"email": email, "name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.unwrap();
    body["id"].as_i64().unwrap()
}

/// Creates a product through the products API and returns its id.
pub async fn create_product(
    products: &str,
    sku: &str,
    name: &str,
    price_cents: i64,
    stock: i64,
) -> i64 {
    let response = http()
        .post(format!("{products}/v1/products"))
        .json(
            &json!({"sku": sku, "name": name, "description": format!("{name}, made for tests."),
            "price_cents": price_cents, "stock": stock}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.unwrap();
    body["id"].as_i64().unwrap()
}

/// Finds `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A headless Chromium session; chromedriver is stopped when this is dropped.
pub struct Browser {
    pub client: Client,
    _driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a fresh headless session.
    pub async fn start() -> Self {
        let chromium = ["chromium", "chromium-browser"]
            .iter()
            .find_map(|name| which(name))
            .expect(
                "chromium is not installed: the browser test needs it \
                 (apt-get install -y chromium chromium-driver, or scripts/install-test-deps.sh)",
            );
        let chromedriver = which("chromedriver").expect(
            "chromedriver is not installed: the browser test needs it \
             (apt-get install -y chromium-driver, or scripts/install-test-deps.sh)",
        );
        let port = closed_port().await.port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver does not start");
        let webdriver = format!("http://127.0.0.1:{port}");
        wait_until_answers(&format!("{webdriver}/status"), Duration::from_secs(20)).await;

        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1200,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&webdriver)
            .await
            .expect("cannot open a Chromium session through chromedriver");
        Self {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Ends the session (the driver stops on drop).
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// Waits until `url` answers anything, for at most `limit`.
pub async fn wait_until_answers(url: &str, limit: Duration) {
    let started = Instant::now();
    let client = http();
    loop {
        if client.get(url).send().await.is_ok() {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{url} did not answer within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
