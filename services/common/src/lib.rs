//! What every KubeStore service shares, so that the five services behave alike on
//! the wire: the API router built from the service catalogue ([`api`]), configuration ([`config`]), the JSON error type ([`error`]), request
//! extractors with the contract's rejection rules ([`extract`]), keyset pagination
//! ([`pagination`]), input validation helpers ([`validate`]), the `Idempotency-Key`
//! header ([`idempotency`]), `/healthz` + `/readyz`
//! ([`health`]), Prometheus metrics ([`metrics`]), the router wrapper and graceful
//! shutdown ([`server`]), the outgoing HTTP client ([`client`]), logging
//! ([`telemetry`]), time formatting ([`time`]) and the `migrate` / `serve` command
//! line and start-up ([`service`]).
//!
//! With the `mysql` feature, [`db`] adds the pool, `migrate`, the readiness check and
//! the mapping of database errors for the MySQL-backed services, and [`service`] their
//! store, [`service::Mysql`].
//!
//! A service describes itself in one [`service::Service`] and its `main` calls
//! [`service::main`], which reads the environment, logs what is in force and serves:
//!
//! ```ignore
//! pub struct Products;
//!
//! impl Service for Products {
//!     const NAME: &'static str = "products";
//!     const VERSION: &'static str = env!("CARGO_PKG_VERSION");
//!     const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
//!     type Store = Mysql;
//!     const STORE: Mysql = Mysql(&MIGRATOR);
//!     type Args = NoArgs;
//!
//!     fn echo(_: &NoArgs, _: &DatabaseArgs, _: &mut Echo) {}
//!
//!     fn app(_: NoArgs, pool: MySqlPool) -> anyhow::Result<App> {
//!         let ctx = db::service_context(Self::NAME, Self::VERSION, pool.clone(), &MIGRATOR);
//!         Ok(App::new(server::finish(app(AppState { pool }), &ctx), ctx))
//!     }
//! }
//! ```

pub mod api;
pub mod client;
pub mod config;
#[cfg(feature = "mysql")]
pub mod db;
pub mod error;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod metrics;
pub mod pagination;
pub mod server;
pub mod service;
pub mod telemetry;
pub mod time;
pub mod validate;

pub use error::AppError;
pub use extract::{BODY_LIMIT, Json, PathId, Query};
pub use health::{Health, ReadinessCheck};
/// The service catalogue every service is built from (names, ports, routes).
pub use kubestore_core::catalog;
/// The built-in defaults the generator renders and the services fall back on.
pub use kubestore_core::defaults;
/// The store's business limits (quantities, lines per cart or order).
pub use kubestore_core::limits;
/// The variables the services read and the paths they serve besides their API.
pub use kubestore_core::runtime;
pub use metrics::Metrics;
pub use pagination::{Keyed, Page, PageRequest};
pub use server::ServiceContext;
