//! The HTTP API of the products service.

pub mod products;
pub mod reservations;

use crate::{AppState, SERVICE};
use axum::Router;
use kubestore_common::api::Api;

/// Routes of the API (state not yet applied), exactly those of the service catalogue.
pub fn router() -> Router<AppState> {
    Api::of(SERVICE)
        .post("/v1/products", products::create)
        .get("/v1/products", products::list)
        .get("/v1/products/{id}", products::get_one)
        .patch("/v1/products/{id}", products::patch)
        .post("/v1/reservations", reservations::reserve)
        .delete("/v1/reservations/{order_ref}", reservations::release)
        .into_router()
}

#[cfg(test)]
mod tests {
    #[test]
    fn serves_exactly_the_catalogue_routes() {
        let _ = super::router();
    }
}
