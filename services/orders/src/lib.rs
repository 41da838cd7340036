//! The orders service: orders placed for a known user by reserving stock through the
//! products service, cancellable, and idempotent under an `Idempotency-Key`.
//!
//! # Layout
//! - [`cli`]: the `migrate` and `serve` subcommands and their configuration.
//! - [`routes`]: the handlers.
//! - [`upstream`]: the calls to users and products.
//! - [`idempotency`]: claiming keys and storing first answers.
//! - `migrations/`: the schema, embedded in the binary by [`MIGRATOR`].

pub mod cli;
pub mod idempotency;
pub mod routes;
pub mod upstream;

use axum::Router;
use kubestore_common::ServiceContext;
use kubestore_common::db;
use sqlx::MySqlPool;

/// Service name: the `service` label of every metric.
pub const SERVICE: &str = "orders";

/// The schema migrations, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The `orders` database.
    pub pool: MySqlPool,
    /// Clients for users and products.
    pub upstream: upstream::Upstreams,
    /// How idempotency keys wait and expire.
    pub idempotency: idempotency::Settings,
}

impl AppState {
    /// State with default idempotency settings.
    pub fn new(pool: MySqlPool, upstream: upstream::Upstreams) -> Self {
        Self {
            pool,
            upstream,
            idempotency: idempotency::Settings::default(),
        }
    }
}

/// The service as served: its API with health (readiness on its own database only,
/// never on the services it calls, so their failure does not cascade), metrics and
/// JSON fallbacks.
pub fn service(state: AppState) -> (Router, ServiceContext) {
    let pool = state.pool.clone();
    let api = routes::router().with_state(state);
    db::finish(SERVICE, env!("CARGO_PKG_VERSION"), &MIGRATOR, pool, api)
}
