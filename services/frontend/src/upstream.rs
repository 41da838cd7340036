//! Typed calls to the backends (products, cart, orders, users) through the
//! shared client. Every call ends in the client's [`Outcome`]: the answer we
//! hoped for, a refusal the shopper should read ([`Refusal`]), or the 503
//! `dependency_unavailable` error, which the pages turn into a visible message
//! naming the backend.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use kubestore_common::client::{ClientError, Outcome, Upstream, UpstreamRequest};
use kubestore_common::config::UpstreamArgs;
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

/// Where the backends are.
#[derive(Debug, Clone)]
pub struct UpstreamUrls {
    /// products.
    pub products: String,
    /// cart.
    pub cart: String,
    /// orders.
    pub orders: String,
    /// users.
    pub users: String,
}

/// Clients of the four backends.
#[derive(Debug, Clone)]
pub struct Upstreams {
    products: Upstream,
    cart: Upstream,
    /// The cart again, with the longer timeout a checkout needs.
    checkout: Upstream,
    orders: Upstream,
    users: Upstream,
}

impl Upstreams {
    /// Builds the clients; fails on a URL that is not http(s). Checkouts get
    /// `checkout_timeout` per attempt, every other call `args`' timeout.
    pub fn new(
        urls: &UpstreamUrls,
        args: &UpstreamArgs,
        checkout_timeout: Duration,
    ) -> Result<Self, ClientError> {
        let checkout_args = UpstreamArgs {
            upstream_timeout: checkout_timeout,
            upstream_retries: args.upstream_retries,
        };
        Ok(Self {
            products: Upstream::new("products", &urls.products, args)?,
            cart: Upstream::new("cart", &urls.cart, args)?,
            checkout: Upstream::new("cart", &urls.cart, &checkout_args)?,
            orders: Upstream::new("orders", &urls.orders, args)?,
            users: Upstream::new("users", &urls.users, args)?,
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
