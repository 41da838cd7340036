//! Typed calls to the backends (products, cart, orders, users) through the
//! shared client. Every call ends in the client's [`Outcome`]: the answer we
//! hoped for, a refusal the shopper should read ([`Refusal`]), or the 503
//! `dependency_unavailable` error, which the pages turn into a visible message
//! naming the backend.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use kubestore_common::client::{ClientError, Outcome, Upstream, UpstreamRequest};
use kubestore_common::config::{self, Echo, UpstreamArgs};
use kubestore_common::runtime::env;
use kubestore_common::{AppError, idempotency};
use serde::{Deserialize, Serialize};

pub use kubestore_common::client::Refusal;

/// A product, as products answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Product {
    /// Id.
    pub id: i64,
    /// Stock keeping unit.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Description, if any.
    pub description: Option<String>,
    /// Price in cents.
    pub price_cents: i64,
    /// Units in stock.
    pub stock: i64,
}

/// One page of the catalogue.
#[derive(Debug, Clone, Deserialize)]
pub struct ProductPage {
    /// The products.
    pub items: Vec<Product>,
    /// The id to continue after, if there may be more.
    pub next: Option<i64>,
}

/// One line of a cart.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct CartLine {
    /// Product id.
    pub product_id: i64,
    /// Quantity.
    pub quantity: i64,
}

/// A cart.
#[derive(Debug, Clone, Deserialize)]
pub struct Cart {
    /// Its lines.
    pub items: Vec<CartLine>,
}

/// One line of an order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderItem {
    /// Product id.
    pub product_id: i64,
    /// Quantity.
    pub quantity: i64,
    /// Price of one unit when the order was placed.
    pub unit_price_cents: i64,
}

/// An order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    /// Id.
    pub id: i64,
    /// The customer.
    pub user_id: i64,
    /// Lines.
    pub items: Vec<OrderItem>,
    /// Total in cents.
    pub total_cents: i64,
    /// `confirmed` or `cancelled`.
    pub status: String,
    /// When it was placed (RFC 3339).
    pub created_at: String,
}

/// A customer account.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// Id: the customer number.
    pub id: i64,
}

/// Where the backends live, and how long a checkout may take (`serve`
/// arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct Dependencies {
    /// Base URL of the products service (`PRODUCTS_URL`).
    #[arg(long, env = env::PRODUCTS_URL, default_value_t = config::local_url("products"), value_parser = config::parse_base_url)]
    pub products_url: String,
    /// Base URL of the cart service (`CART_URL`).
    #[arg(long, env = env::CART_URL, default_value_t = config::local_url("cart"), value_parser = config::parse_base_url)]
    pub cart_url: String,
    /// Base URL of the orders service (`ORDERS_URL`).
    #[arg(long, env = env::ORDERS_URL, default_value_t = config::local_url("orders"), value_parser = config::parse_base_url)]
    pub orders_url: String,
    /// Base URL of the users service (`USERS_URL`).
    #[arg(long, env = env::USERS_URL, default_value_t = config::local_url("users"), value_parser = config::parse_base_url)]
    pub users_url: String,
    /// Time allowed for the cart to check out (`CHECKOUT_TIMEOUT`): it calls
    /// orders, which calls users and products, so it needs longer than
    /// `UPSTREAM_TIMEOUT`; keep it above the cart's own `CHECKOUT_TIMEOUT`
    /// so the cart answers (503 or not) before the frontend gives up.
    #[arg(long, env = env::CHECKOUT_TIMEOUT, default_value = "15s",
          value_parser = config::parse_duration)]
    pub checkout_timeout: Duration,
}

impl Dependencies {
    /// Adds the URLs, then `args`, then the checkout timeout to the start-up line.
    pub fn echo(&self, args: &UpstreamArgs, echo: &mut Echo) {
        echo.url(env::PRODUCTS_URL, &self.products_url)
            .url(env::CART_URL, &self.cart_url)
            .url(env::ORDERS_URL, &self.orders_url)
            .url(env::USERS_URL, &self.users_url);
        args.echo(echo);
        echo.duration(env::CHECKOUT_TIMEOUT, self.checkout_timeout);
    }
}

/// Clients of the four backends.
#[derive(Debug, Clone)]
pub struct Upstreams {
    products: Upstream,
    cart: Upstream,
    /// The cart over the same connections, with the longer timeout a checkout needs.
    checkout: Upstream,
    orders: Upstream,
    users: Upstream,
}

impl Upstreams {
    /// Builds the clients, every call with `args`' timeout and retries but a
    /// checkout, which gets the checkout timeout; fails on a URL that is not
    /// http(s).
    pub fn new(deps: &Dependencies, args: &UpstreamArgs) -> Result<Self, ClientError> {
        let cart = Upstream::new("cart", &deps.cart_url, args)?;
        Ok(Self {
            products: Upstream::new("products", &deps.products_url, args)?,
            checkout: cart.with_timeout(deps.checkout_timeout),
            cart,
            orders: Upstream::new("orders", &deps.orders_url, args)?,
            users: Upstream::new("users", &deps.users_url, args)?,
        })
    }

    /// A page of the catalogue.
    pub async fn products(&self, after: Option<i64>, limit: u32) -> Result<ProductPage, AppError> {
        let path = match after {
            Some(after) => format!("/v1/products?limit={limit}&after={after}"),
            None => format!("/v1/products?limit={limit}"),
        };
        self.products
            .fetch_json(UpstreamRequest::new(Method::GET, path), StatusCode::OK)
            .await
    }

    /// One product, `None` when products does not know it.
    pub async fn product(&self, id: i64) -> Result<Option<Product>, AppError> {
        self.products.find_json(format!("/v1/products/{id}")).await
    }

    /// A cart (an unknown one is empty).
    pub async fn cart(&self, cart_id: &str) -> Result<Cart, AppError> {
        let request = UpstreamRequest::new(Method::GET, format!("/v1/carts/{cart_id}"));
        self.cart.fetch_json(request, StatusCode::OK).await
    }

    /// Sets the quantity of a cart line (0 removes it).
    pub async fn set_line(&self, cart_id: &str, product_id: i64, quantity: i64) -> Outcome<Cart> {
        let request = UpstreamRequest::new(
            Method::PUT,
            format!("/v1/carts/{cart_id}/items/{product_id}"),
        )
        .json(&serde_json::json!({ "quantity": quantity }))?;
        self.cart.call_json(request, StatusCode::OK).await
    }

    /// Checks a cart out for `user_id` under the checkout form's `key` (valid
    /// per [`kubestore_common::idempotency::is_valid`]).
    pub async fn checkout(&self, cart_id: &str, user_id: i64, key: &str) -> Outcome<Order> {
        let key = HeaderValue::from_str(key).map_err(AppError::internal)?;
        let request = UpstreamRequest::new(Method::POST, format!("/v1/carts/{cart_id}/checkout"))
            .json(&serde_json::json!({ "user_id": user_id }))?
            .header(HeaderName::from_static(idempotency::HEADER), key)
            // With the key, asking again returns the first order, even once
            // the cart is empty.
            .idempotent(true);
        self.checkout.call_json(request, StatusCode::CREATED).await
    }

    /// One order, `None` when orders does not know it.
    pub async fn order(&self, id: i64) -> Result<Option<Order>, AppError> {
        self.orders.find_json(format!("/v1/orders/{id}")).await
    }

    /// Creates a customer account under the checkout form's `key`, so that the
    /// form sent again gets the same account instead of 409 `email_taken`.
    pub async fn create_user(&self, email: &str, name: &str, key: &str) -> Outcome<User> {
        let key = HeaderValue::from_str(key).map_err(AppError::internal)?;
        let request = UpstreamRequest::new(Method::POST, "/v1/users")
            .json(&serde_json::json!({ "email": email, "name": name }))?
            .header(HeaderName::from_static(idempotency::HEADER), key)
            .idempotent(true);
        self.users.call_json(request, StatusCode::CREATED).await
    }
}
