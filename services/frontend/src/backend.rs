//! Typed calls to the backends (products, cart, orders, users) through the
//! shared client. Every call ends in one of three ways: the answer we hoped
//! for, a refusal the shopper should read ([`Refusal`]), or [`Down`], which the
//! pages turn into a visible message and a 503.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use kubestore_common::client::{ClientError, Upstream, UpstreamRequest, UpstreamResponse};
use kubestore_common::config::UpstreamArgs;
use kubestore_common::{AppError, idempotency};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A backend that is down, too slow or answered something unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Down(pub &'static str);

/// A 4xx answer of a backend, with the message of its error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Its status.
    pub status: StatusCode,
    /// Its error code (`insufficient_stock`, `email_taken`, ...).
    pub code: String,
    /// Its human sentence.
    pub message: String,
}

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

/// Where the backends are and how to call them.
#[derive(Debug, Clone)]
pub struct BackendUrls {
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
pub struct Backends {
    products: Upstream,
    cart: Upstream,
    /// The cart again, with the longer timeout a checkout needs.
    checkout: Upstream,
    orders: Upstream,
    users: Upstream,
}

/// The outcome of a call that the shopper may be refused.
pub type Answer<T> = Result<Result<T, Refusal>, Down>;

impl Backends {
    /// Builds the clients; fails on a URL that is not http(s). Checkouts get
    /// `checkout_timeout` per attempt, every other call `args`' timeout.
    pub fn new(
        urls: &BackendUrls,
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
    pub async fn products(&self, after: Option<i64>, limit: u32) -> Result<ProductPage, Down> {
        let path = match after {
            Some(after) => format!("/v1/products?limit={limit}&after={after}"),
            None => format!("/v1/products?limit={limit}"),
        };
        expect(
            &self.products,
            get(&self.products, path).await?,
            StatusCode::OK,
        )
    }

    /// One product, `None` when products does not know it.
    pub async fn product(&self, id: i64) -> Result<Option<Product>, Down> {
        let response = get(&self.products, format!("/v1/products/{id}")).await?;
        if response.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        expect(&self.products, response, StatusCode::OK).map(Some)
    }

    /// A cart (an unknown one is empty).
    pub async fn cart(&self, cart_id: &str) -> Result<Cart, Down> {
        let response = get(&self.cart, format!("/v1/carts/{cart_id}")).await?;
        expect(&self.cart, response, StatusCode::OK)
    }

    /// Sets the quantity of a cart line (0 removes it).
    pub async fn set_line(&self, cart_id: &str, product_id: i64, quantity: i64) -> Answer<Cart> {
        let request = UpstreamRequest::new(
            Method::PUT,
            format!("/v1/carts/{cart_id}/items/{product_id}"),
        )
        .json(&serde_json::json!({ "quantity": quantity }))
        .map_err(|_| Down("cart"))?;
        answer(&self.cart, send(&self.cart, request).await?, StatusCode::OK)
    }

    /// Checks a cart out for `user_id` under the checkout form's `key` (valid
    /// per [`kubestore_common::idempotency::is_valid`]).
    pub async fn checkout(&self, cart_id: &str, user_id: i64, key: &str) -> Answer<Order> {
        let key = HeaderValue::from_str(key).map_err(|_| Down("cart"))?;
        let request = UpstreamRequest::new(Method::POST, format!("/v1/carts/{cart_id}/checkout"))
            .json(&serde_json::json!({ "user_id": user_id }))
            .map_err(|_| Down("cart"))?
            .header(HeaderName::from_static(idempotency::HEADER), key)
            // With the key, asking again returns the first order, even once
            // the cart is empty.
            .idempotent(true);
        answer(
            &self.checkout,
            send(&self.checkout, request).await?,
            StatusCode::CREATED,
        )
    }

    /// One order, `None` when orders does not know it.
    pub async fn order(&self, id: i64) -> Result<Option<Order>, Down> {
        let response = get(&self.orders, format!("/v1/orders/{id}")).await?;
        if response.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        expect(&self.orders, response, StatusCode::OK).map(Some)
    }

    /// Creates a customer account under the checkout form's `key`, so that the
    /// form sent again gets the same account instead of 409 `email_taken`.
    pub async fn create_user(&self, email: &str, name: &str, key: &str) -> Answer<User> {
        let key = HeaderValue::from_str(key).map_err(|_| Down("users"))?;
        let request = UpstreamRequest::new(Method::POST, "/v1/users")
            .json(&serde_json::json!({ "email": email, "name": name }))
            .map_err(|_| Down("users"))?
            .header(HeaderName::from_static(idempotency::HEADER), key)
            .idempotent(true);
        answer(
            &self.users,
            send(&self.users, request).await?,
            StatusCode::CREATED,
        )
    }
}

async fn get(upstream: &Upstream, path: String) -> Result<UpstreamResponse, Down> {
    send(upstream, UpstreamRequest::new(Method::GET, path)).await
}

async fn send(upstream: &Upstream, request: UpstreamRequest) -> Result<UpstreamResponse, Down> {
    upstream.send(request).await.map_err(|err| {
        // The shared client has already logged why; the page only needs who.
        tracing::debug!(dependency = upstream.name(), error = %err, "backend call failed");
        Down(upstream.name())
    })
}

/// The body of a `wanted` answer; anything else means the backend is unwell.
fn expect<T: DeserializeOwned>(
    upstream: &Upstream,
    response: UpstreamResponse,
    wanted: StatusCode,
) -> Result<T, Down> {
    if response.status != wanted {
        tracing::warn!(dependency = upstream.name(), status = %response.status, "unexpected answer");
        return Err(Down(upstream.name()));
    }
    response.json().map_err(|err: AppError| {
        tracing::warn!(dependency = upstream.name(), error = %err, "undecodable answer");
        Down(upstream.name())
    })
}

/// Like [`expect`], but a 4xx is a [`Refusal`] to show the shopper.
fn answer<T: DeserializeOwned>(
    upstream: &Upstream,
    response: UpstreamResponse,
    wanted: StatusCode,
) -> Answer<T> {
    if response.status.is_client_error() {
        let status = response.status;
        let body = response.into_error("rejected").body();
        return Ok(Err(Refusal {
            status,
            code: body["error"]["code"]
                .as_str()
                .unwrap_or("rejected")
                .to_owned(),
            message: body["error"]["message"]
                .as_str()
                .unwrap_or("the request was refused")
                .to_owned(),
        }));
    }
    expect(upstream, response, wanted).map(Ok)
}
