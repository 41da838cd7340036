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
use kubestore_common::ServiceContext;
use kubestore_common::db;

/// Service name: the `service` label of every metric.
pub const SERVICE: &str = "products";

/// The schema migrations, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What the handlers share: the `products` database.
pub use kubestore_common::db::PoolState as AppState;

/// The service as served: its API with health (readiness on its own database),
/// metrics and JSON fallbacks.
pub fn service(state: AppState) -> (Router, ServiceContext) {
    let pool = state.pool.clone();
    let api = routes::router().with_state(state);
    db::finish(SERVICE, env!("CARGO_PKG_VERSION"), &MIGRATOR, pool, api)
}
