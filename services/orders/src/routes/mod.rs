//! The HTTP API of the orders service.

pub mod orders;

use crate::AppState;
use axum::Router;
use axum::routing::{get, post};

/// Routes of the API (state not yet applied).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/orders", post(orders::create).get(orders::list))
        .route("/v1/orders/{id}", get(orders::get_one))
        .route("/v1/orders/{id}/cancel", post(orders::cancel))
}
