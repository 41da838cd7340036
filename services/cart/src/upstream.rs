//! Calls to the products and orders services through the shared client and its
//! [`Outcome`], so that a service that is down turns into a fast 503
//! `dependency_unavailable` rather than a hanging request.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use kubestore_common::client::{ClientError, Outcome, Upstream, UpstreamRequest};
use kubestore_common::config::{self, Echo, UpstreamArgs};
use kubestore_common::runtime::env;
use kubestore_common::{AppError, idempotency};
use serde::Serialize;
use serde_json::Value;

use crate::store::Line;

/// Where the services the cart calls live, and how long a checkout may take
/// (`serve` arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct Dependencies {
    /// Base URL of the products service (`PRODUCTS_URL`).
    #[arg(long, env = env::PRODUCTS_URL, default_value_t = config::local_url("products"), value_parser = config::parse_base_url)]
    pub products_url: String,
    /// Base URL of the orders service (`ORDERS_URL`).
    #[arg(long, env = env::ORDERS_URL, default_value_t = config::local_url("orders"), value_parser = config::parse_base_url)]
    pub orders_url: String,
    /// Time allowed for orders to create the order of a checkout
    /// (`CHECKOUT_TIMEOUT`); longer than `UPSTREAM_TIMEOUT` because orders itself
    /// calls users and products.
    #[arg(long, env = env::CHECKOUT_TIMEOUT, default_value = "10s",
          value_parser = config::parse_duration)]
    pub checkout_timeout: Duration,
}

impl Dependencies {
    /// Adds the URLs, then `args`, then the checkout timeout to the start-up line.
    pub fn echo(&self, args: &UpstreamArgs, echo: &mut Echo) {
        echo.url(env::PRODUCTS_URL, &self.products_url)
            .url(env::ORDERS_URL, &self.orders_url);
        args.echo(echo);
        echo.duration(env::CHECKOUT_TIMEOUT, self.checkout_timeout);
    }
}

/// Clients of products and orders.
#[derive(Debug, Clone)]
pub struct Upstreams {
    products: Upstream,
    orders: Upstream,
}

impl Upstreams {
    /// Builds the clients, every call with `args`' timeout and retries but creating
    /// an order, which gets the checkout timeout; fails on a URL that is not
    /// http(s).
    pub fn new(deps: &Dependencies, args: &UpstreamArgs) -> Result<Self, ClientError> {
        Ok(Self {
            products: Upstream::new("products", &deps.products_url, args)?,
            orders: Upstream::new("orders", &deps.orders_url, args)?
                .with_timeout(deps.checkout_timeout),
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
