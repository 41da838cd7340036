//! The catalogue (`/`, a page of products at a time) and a product's page.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use kubestore_common::extract::parse_id;
use minijinja::value::Serde;
use minijinja::{Value, context};

use super::{Page, RawId, down_message};
use crate::AppState;

/// Products per catalogue page.
pub const PAGE_SIZE: u32 = 20;

/// `GET /?after=<id>`: a page of the catalogue.
pub(super) async fn catalogue(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    // A malformed `after` is a stale or hand-made link: show the first page.
    let after = query_param(query.as_deref(), "after").and_then(|v| parse_id(&v));
    let page = match state.upstream.products(after, PAGE_SIZE).await {
        Ok(page) => Page::new(
            "catalogue.html",
            "Catalogue",
            context! {
                products => Value::from(Serde(&page.items)),
                next => page.next,
                paged => after.is_some(),
            },
        ),
        Err(down) => Page::new(
            "catalogue.html",
            "Catalogue",
            context! {
                products => Value::from(Vec::<Value>::new()),
                next => None::<i64>,
                paged => after.is_some(),
            },
        )
        .failed(
            StatusCode::SERVICE_UNAVAILABLE,
            down_message(down, "The catalogue"),
        ),
    };
    page.render(&state)
}

/// One query parameter, percent-decoded.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    let params: HashMap<String, String> =
        kubestore_common::extract::parse_query(query.unwrap_or_default()).ok()?;
    params.get(name).cloned()
}

/// `GET /products/{id}`.
pub(super) async fn product_page(State(state): State<AppState>, RawId(id): RawId) -> Response {
    let Some(id) = parse_id(&id) else {
        return Page::error(
            StatusCode::NOT_FOUND,
            "Product not found",
            "There is no such product.",
        )
        .render(&state);
    };
    match state.upstream.product(id).await {
        Ok(Some(product)) => Page::new(
            "product.html",
            product.name.clone(),
            context! { product => Value::from(Serde(&product)) },
        )
        .render(&state),
        Ok(None) => Page::error(
            StatusCode::NOT_FOUND,
            "Product not found",
            "There is no such product.",
        )
        .render(&state),
        Err(down) => Page::new(
            "product.html",
            "Product",
            context! { product => Value::from(()) },
        )
        .failed(
            StatusCode::SERVICE_UNAVAILABLE,
            down_message(down, "Product information"),
        )
        .render(&state),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        assert_eq!(
            query_param(Some("after=5&x=1"), "after").as_deref(),
            Some("5")
        );
        assert_eq!(query_param(None, "after"), None);
    }
}
