//! The HTTP API of the products service.

pub mod products;
pub mod reservations;

use crate::AppState;
use axum::Router;
use axum::routing::{delete, get, post};

/// Routes of the API (state not yet applied).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/products", post(products::create).get(products::list))
        .route(
            "/v1/products/{id}",
            get(products::get_one).patch(products::patch),
        )
        .route("/v1/reservations", post(reservations::reserve))
        .route(
            "/v1/reservations/{order_ref}",
            delete(reservations::release),
        )
}
