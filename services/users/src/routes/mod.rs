//! The HTTP API of the users service.

pub mod users;

use crate::{AppState, SERVICE};
use axum::Router;
use kubestore_common::api::Api;

/// Routes of the API (state not yet applied), exactly those of the service catalogue.
pub fn router() -> Router<AppState> {
    Api::of(SERVICE)
        .post("/v1/users", users::create)
        .get("/v1/users", users::list)
        .get("/v1/users/{id}", users::get_one)
        .into_router()
}

#[cfg(test)]
mod tests {
    #[test]
    fn serves_exactly_the_catalogue_routes() {
        let _ = super::router();
    }
}
