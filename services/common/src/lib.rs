//! What every KubeStore service shares, so that the five services behave alike on
//! the wire: the API router built from the service catalogue ([`api`]), configuration ([`config`]), the JSON error type ([`error`]), request
//! extractors with the contract's rejection rules ([`extract`]), keyset pagination
//! ([`pagination`]), input validation helpers ([`validate`]), the `Idempotency-Key`
//! header ([`idempotency`]), `/healthz` + `/readyz`
//! ([`health`]), Prometheus metrics ([`metrics`]), the router wrapper and graceful
//! shutdown ([`server`]), the outgoing HTTP client ([`client`]), logging
//! ([`telemetry`]), time formatting ([`time`]) and the `migrate` / `serve` command
//! line ([`service`]).
//!
//! With the `mysql` feature, [`db`] adds the pool, `migrate`, the readiness check and
//! the mapping of database errors for the MySQL-backed services, and [`service`] the
//! whole of their `migrate` and `serve`.
//!
//! A service's `main` typically reads:
//!
//! ```ignore
//! let metrics = Metrics::new("products", env!("CARGO_PKG_VERSION"));
//! let health = Health::new(vec![db::readiness_check(pool.clone(), &MIGRATOR)]);
//! let ctx = ServiceContext::new("products", health, metrics);
//! let router = server::finish(app(state), &ctx);
//! server::serve_with(&args.serve, DEFAULT_PORT, router, &ctx).await?;
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
pub use metrics::Metrics;
pub use pagination::{Keyed, Page, PageRequest};
pub use server::ServiceContext;
