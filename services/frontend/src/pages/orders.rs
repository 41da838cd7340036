//! The page of one order.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use kubestore_common::extract::parse_id;
use minijinja::value::Serde;
use minijinja::{Value, context};

use super::{Page, RawId, down_message, products_by_id};
use crate::AppState;

/// `GET /orders/{id}`.
pub(super) async fn order_page(State(state): State<AppState>, RawId(id): RawId) -> Response {
    let Some(id) = parse_id(&id) else {
        return Page::error(
            StatusCode::NOT_FOUND,
            "Order not found",
            "There is no such order.",
        )
        .render(&state);
    };
    match state.upstream.order(id).await {
        Ok(Some(order)) => {
            let ids: Vec<i64> = order.items.iter().map(|i| i.product_id).collect();
            let (products, products_down) = products_by_id(&state, &ids).await;
            let names: HashMap<String, String> = products
                .into_iter()
                .map(|(id, p)| (id.to_string(), p.name))
                .collect();
            let page = Page::new(
                "order.html",
                format!("Order #{}", order.id),
                context! { order => Value::from(Serde(&order)), names => names },
            );
            page.degraded(products_down, "Product information")
                .render(&state)
        }
        Ok(None) => Page::error(
            StatusCode::NOT_FOUND,
            "Order not found",
            "There is no such order.",
        )
        .render(&state),
        Err(down) => Page::new(
            "order.html",
            "Order",
            context! { order => Value::from(()), names => Value::from(()) },
        )
        .failed(
            StatusCode::SERVICE_UNAVAILABLE,
            down_message(down, "Your order"),
        )
        .render(&state),
    }
}
