//! The HTTP API of the users service.

pub mod users;

use crate::AppState;
use axum::Router;
use axum::routing::{get, post};

/// Routes of the API (state not yet applied).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/users", post(users::create).get(users::list))
        .route("/v1/users/{id}", get(users::get_one))
}
