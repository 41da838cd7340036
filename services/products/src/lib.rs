//! The products service: the catalogue, stock, and reservations that take stock
//! all-or-nothing for orders.
//!
//! # Layout
//! - [`cli`]: the `migrate` and `serve` subcommands and their configuration.
//! - [`routes`]: handlers, one module per resource.
//! - `migrations/`: the schema, embedded in the binary by [`MIGRATOR`].

pub mod cli;
pub mod routes;

use axum::Router;
use kubestore_common::server::{self, ServiceContext};
use sqlx::MySqlPool;

/// Service name: the `service` label of every metric.
pub const SERVICE: &str = "products";

/// The schema migrations, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The `products` database.
    pub pool: MySqlPool,
}

/// The API routes of the service, state applied.
pub fn app(state: AppState) -> Router {
    routes::router().with_state(state)
}

/// Readiness and metrics for a service using `pool`.
pub fn context(pool: MySqlPool) -> ServiceContext {
    kubestore_common::db::service_context(SERVICE, env!("CARGO_PKG_VERSION"), pool, &MIGRATOR)
}

/// The complete application: API routes plus health, metrics and JSON fallbacks.
pub fn router(state: AppState, ctx: &ServiceContext) -> Router {
    server::finish(app(state), ctx)
}
