//! Calls to the products and orders services through the shared client and its
//! [`Outcome`], so that a service that is down turns into a fast 503
//! `dependency_unavailable` rather than a hanging request.

use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use kubestore_common::client::{ClientError, Outcome, Upstream, UpstreamRequest};
use kubestore_common::config::UpstreamArgs;
use kubestore_common::{AppError, idempotency};
use serde::Serialize;
use serde_json::Value;

use crate::store::Line;

/// Settings of the upstream calls.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Base URL of products.
    pub products_url: String,
    /// Base URL of orders.
    pub orders_url: String,
    /// Timeout and retries of product lookups.
    pub lookups: UpstreamArgs,
    /// Timeout and retries of creating an order, which itself calls users and
    /// products, so it gets a longer timeout than a lookup.
    pub checkout: UpstreamArgs,
}

/// Clients of products and orders.
#[derive(Debug, Clone)]
pub struct Upstreams {
    products: Upstream,
    orders: Upstream,
}

impl Upstreams {
    /// Builds the clients; fails on a URL that is not http(s).
    pub fn new(config: &UpstreamConfig) -> Result<Self, ClientError> {
        Ok(Self {
            products: Upstream::new("products", &config.products_url, &config.lookups)?,
            orders: Upstream::new("orders", &config.orders_url, &config.checkout)?,
        })
    }

    /// Whether products knows `product_id`.
    pub async fn product_exists(&self, product_id: u64) -> Result<bool, AppError> {
        self.products
            .exists(format!("/v1/products/{product_id}"))
            .await
    }

    /// Creates an order through orders with `idempotency_key`: the order as orders
    /// answered it, or its refusal (`insufficient_stock`, `unknown_user`, ...) to
    /// pass on unchanged.
    pub async fn create_order(
        &self,
        user_id: i64,
        items: &[Line],
        idempotency_key: &str,
    ) -> Outcome<Value> {
        #[derive(Serialize)]
        struct NewOrder<'a> {
            user_id: i64,
            items: &'a [Line],
        }
        let key = HeaderValue::from_str(idempotency_key).map_err(AppError::internal)?;
        let request = UpstreamRequest::new(Method::POST, "/v1/orders")
            .json(&NewOrder { user_id, items })?
            .header(HeaderName::from_static(idempotency::HEADER), key)
            // The key makes repeating the POST harmless: orders answers the
            // first order again instead of making a second one.
            .idempotent(true);
        match self
            .orders
            .call_json::<Value>(request, StatusCode::CREATED)
            .await?
        {
            Ok(order) if order.get("id").is_none() => Err(AppError::unavailable(
                "orders",
                "201 without an order in the body",
            )),
            Ok(order) => Ok(Ok(order)),
            // A 404 means our path is wrong, not that the shopper was refused.
            Err(refusal) if refusal.status == StatusCode::NOT_FOUND => Err(refusal.unexpected()),
            Err(refusal) => Ok(Err(refusal)),
        }
    }
}
