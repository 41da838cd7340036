//! The HTTP API of the orders service.

pub mod orders;

use crate::{AppState, SERVICE};
use axum::Router;
use kubestore_common::api::Api;

/// Routes of the API (state not yet applied), exactly those of the service catalogue.
pub fn router() -> Router<AppState> {
    Api::of(SERVICE)
        .post("/v1/orders", orders::create)
        .get("/v1/orders", orders::list)
        .get("/v1/orders/{id}", orders::get_one)
        .post("/v1/orders/{id}/cancel", orders::cancel)
        .into_router()
}

#[cfg(test)]
mod tests {
    #[test]
    fn serves_exactly_the_catalogue_routes() {
        let _ = super::router();
    }
}
