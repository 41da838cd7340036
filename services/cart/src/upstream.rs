//! Calls to the products and orders services through the shared client, so
//! that a service that is down turns into a fast 503 `dependency_unavailable`
//! rather than a hanging request.

use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use kubestore_common::AppError;
use kubestore_common::client::{ClientError, Upstream, UpstreamRequest};
use kubestore_common::config::UpstreamArgs;
use serde::Serialize;
use serde_json::Value;

use crate::store::Line;

/// Whether a product exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductLookup {
    /// products answered 200.
    Exists,
    /// products answered 404.
    Unknown,
}

/// What orders said to a checkout.
#[derive(Debug)]
pub enum OrderOutcome {
    /// 201: the order as orders answered it.
    Created(Value),
    /// A 4xx from orders (`insufficient_stock`, `unknown_user`, ...), passed
    /// through to the client unchanged.
    Rejected(AppError),
}

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
pub struct Services {
    products: Upstream,
    orders: Upstream,
}

impl Services {
    /// Builds the clients; fails on a URL that is not http(s).
    pub fn new(config: &UpstreamConfig) -> Result<Self, ClientError> {
        Ok(Self {
            products: Upstream::new("products", &config.products_url, &config.lookups)?,
            orders: Upstream::new("orders", &config.orders_url, &config.checkout)?,
        })
    }

    /// Asks products whether `product_id` exists.
    pub async fn product_exists(&self, product_id: u64) -> Result<ProductLookup, AppError> {
        let response = self
            .products
            .send(UpstreamRequest::new(
                Method::GET,
                format!("/v1/products/{product_id}"),
            ))
            .await?;
        match response.status {
            StatusCode::OK => Ok(ProductLookup::Exists),
            StatusCode::NOT_FOUND => Ok(ProductLookup::Unknown),
            status => Err(AppError::unavailable(
                "products",
                format!("GET /v1/products/{product_id} answered {status}"),
            )),
        }
    }

    /// Creates an order through orders with `idempotency_key`.
    pub async fn create_order(
        &self,
        user_id: i64,
        items: &[Line],
        idempotency_key: &str,
    ) -> Result<OrderOutcome, AppError> {
        #[derive(Serialize)]
        struct NewOrder<'a> {
            user_id: i64,
            items: &'a [Line],
        }
        let key = HeaderValue::from_str(idempotency_key).map_err(AppError::internal)?;
        let request = UpstreamRequest::new(Method::POST, "/v1/orders")
            .json(&NewOrder { user_id, items })?
            .header(HeaderName::from_static("idempotency-key"), key)
            // The key makes repeating the POST harmless: orders answers the
            // first order again instead of making a second one.
            .idempotent(true);
        let response = self.orders.send(request).await?;
        match response.status {
            StatusCode::CREATED => {
                let order: Value = response.json()?;
                if order.get("id").is_none() {
                    return Err(AppError::unavailable(
                        "orders",
                        "201 without an order in the body",
                    ));
                }
                Ok(OrderOutcome::Created(order))
            }
            status if status.is_client_error() && status != StatusCode::NOT_FOUND => Ok(
                OrderOutcome::Rejected(response.into_error("checkout_rejected")),
            ),
            status => Err(AppError::unavailable(
                "orders",
                format!("POST /v1/orders answered {status}"),
            )),
        }
    }
}
