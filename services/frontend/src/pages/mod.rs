//! The shop's pages and form handlers, one module per page group: the catalogue
//! and product pages ([`catalog`]), the cart and its forms ([`cart`]), checkout
//! ([`checkout`]) and the order page ([`orders`]); here, the router and what every
//! page shares (rendering, the backend-down message, headers, redirects).
//!
//! Forms post and redirect (303) to a page, so everything works without
//! JavaScript and a reload never posts twice. When a backend is down the page
//! still renders, with a message saying what is unavailable, and answers 503.

mod cart;
mod catalog;
mod checkout;
mod orders;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kubestore_common::AppError;
use kubestore_common::api::Api;
use minijinja::{Value, context};

use crate::upstream::{Product, Refusal};
use crate::{AppState, SERVICE};

pub use catalog::PAGE_SIZE;

/// The page routes, exactly those of the service catalogue.
pub fn routes() -> Router<AppState> {
    Api::of(SERVICE)
        .get("/", catalog::catalogue)
        .get("/products/{id}", catalog::product_page)
        .get("/cart", cart::cart_page)
        .post("/cart/items", cart::add_to_cart)
        .post("/cart/items/{product_id}", cart::update_line)
        .post("/cart/items/{product_id}/remove", cart::remove_line)
        .get("/checkout", checkout::checkout_page)
        .post("/checkout", checkout::checkout)
        .get("/orders/{id}", orders::order_page)
        // A real route rather than a fallback, so shoppers get an HTML page
        // (the shared fallback answers JSON, for the APIs) and the metrics
        // label stays the bounded template `/{*path}`.
        .get("/{*path}", not_found_page)
        .into_router()
        .layer(axum::middleware::map_response(page_headers))
}

/// Headers of every page: the pages hold carts and orders, so no cache keeps
/// them; nothing is loaded from elsewhere, so the policy can say so; and no
/// other site may frame the forms.
async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// `GET` of any other path.
async fn not_found_page(State(state): State<AppState>) -> Response {
    Page::error(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no such page.",
    )
    .render(&state)
}

/// The path's id parameter as written, not decoded: ids are plain digits,
/// so anything else, bytes that are not UTF-8 included, is simply no id (a
/// 404 page) rather than axum's plain-text 400.
struct RawId(String);

impl<S: Send + Sync> FromRequestParts<S> for RawId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|params| params.iter().last().map(|(_, v)| v.to_owned()))
            .unwrap_or_default();
        Ok(Self(raw))
    }
}

/// A page to render: template, status, title, an optional error message and
/// notice, and the template's own data.
struct Page {
    status: StatusCode,
    template: &'static str,
    title: String,
    message: Option<String>,
    data: Value,
}

impl Page {
    fn new(template: &'static str, title: impl Into<String>, data: Value) -> Self {
        Self {
            status: StatusCode::OK,
            template,
            title: title.into(),
            message: None,
            data,
        }
    }

    /// A page that only says `message`, with `status`.
    fn error(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new("error.html", title, context! {}).failed(status, message)
    }

    fn failed(mut self, status: StatusCode, message: impl Into<String>) -> Self {
        self.status = status;
        self.message = Some(message.into());
        self
    }

    /// The page as it is, or, when `down` says a backend did not answer for part of
    /// it, with the message naming `what` is missing, and 503.
    fn degraded(self, down: Option<AppError>, what: &str) -> Self {
        match down {
            None => self,
            Some(down) => self.failed(StatusCode::SERVICE_UNAVAILABLE, down_message(down, what)),
        }
    }

    fn render(self, state: &AppState) -> Response {
        let ctx = context! {
            title => self.title,
            message => self.message,
            notice => None::<String>,
            ..self.data
        };
        state.views.page(self.status, self.template, ctx)
    }
}

/// The sentence shown when a backend is unavailable (`down`, the client's 503).
fn down_message(down: AppError, what: &str) -> String {
    // The page says who; the log keeps why.
    tracing::warn!(error = %down, "backend unavailable");
    let dependency = match &down {
        AppError::DependencyUnavailable { dependency, .. } => dependency.as_ref(),
        _ => "a backend",
    };
    format!(
        "{what} is temporarily unavailable ({dependency} is not answering). Please try again in a moment."
    )
}

/// The products `ids` (at most 50: a cart's or an order's lines), looked up
/// concurrently so a page costs one round trip; unknown ones are absent. The
/// second value says whether products failed to answer for some of them.
async fn products_by_id(
    state: &AppState,
    ids: &[i64],
) -> (HashMap<i64, Product>, Option<AppError>) {
    let mut lookups = tokio::task::JoinSet::new();
    for &id in ids {
        let upstream = state.upstream.clone();
        lookups.spawn(async move { (id, upstream.product(id).await) });
    }
    let mut products = HashMap::new();
    let mut down = None;
    while let Some(joined) = lookups.join_next().await {
        match joined {
            Ok((id, Ok(Some(product)))) => {
                products.insert(id, product);
            }
            Ok((_, Ok(None))) => {}
            Ok((_, Err(err))) => down = Some(err),
            Err(err) => {
                tracing::error!(error = %err, "product lookup task failed");
                down = Some(AppError::unavailable("products", err.to_string()));
            }
        }
    }
    (products, down)
}

/// A backend's refusal in words for the shopper: validation messages lose
/// their `field: ` prefix, which names an API field, not a form field.
fn shopper_message(refusal: &Refusal) -> String {
    if refusal.code == "unknown_product" {
        return "That product is not sold here.".to_owned();
    }
    let message = refusal
        .message
        .split_once(": ")
        .filter(|(field, _)| {
            !field.is_empty()
                && field
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .map_or(refusal.message.as_str(), |(_, rest)| rest);
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => {
            let sentence = format!("{}{}", first.to_uppercase(), chars.as_str());
            if sentence.ends_with('.') {
                sentence
            } else {
                format!("{sentence}.")
            }
        }
        None => "The request was refused.".to_owned(),
    }
}

/// Redirect (303) to `location`, so a reload does not post again.
fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

fn set_cookie(response: &mut Response, value: HeaderValue) {
    response.headers_mut().append(header::SET_COOKIE, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_exactly_the_catalogue_routes() {
        let _ = routes();
    }

    #[test]
    fn refusals_read_as_sentences() {
        let refusal = |code: &str, message: &str| Refusal {
            dependency: "cart",
            request: "PUT /v1/carts/c/items/1".to_owned(),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: code.to_owned(),
            message: message.to_owned(),
            details: serde_json::Map::new(),
        };
        assert_eq!(
            shopper_message(&refusal(
                "validation_failed",
                "product_id: a cart holds at most 50 different products"
            )),
            "A cart holds at most 50 different products."
        );
        assert_eq!(
            shopper_message(&refusal("insufficient_stock", "Product 3 has only 2 left.")),
            "Product 3 has only 2 left."
        );
        assert_eq!(
            shopper_message(&refusal("unknown_product", "product 9 does not exist")),
            "That product is not sold here."
        );
        assert_eq!(
            shopper_message(&refusal("x", "Note: keep this")),
            "Note: keep this."
        );
    }
}
