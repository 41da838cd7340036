//! Command line: `products migrate` and `products serve`, configured from the
//! environment (see [`kubestore_common::config`]); the shared part lives in
//! [`kubestore_common::service`].

use crate::{AppState, DEFAULT_PORT, MIGRATOR, SERVICE};
use axum::Router;
use kubestore_common::ServiceContext;
use kubestore_common::service::{self, MysqlService, NoExtraArgs};
use sqlx::MySqlPool;
use sqlx::migrate::Migrator;
use std::process::ExitCode;

/// What the shared command line needs to know about products.
struct Products;

impl MysqlService for Products {
    const NAME: &'static str = SERVICE;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
    const DEFAULT_PORT: u16 = DEFAULT_PORT;
    type Extra = NoExtraArgs;

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn app(
        _: NoExtraArgs,
        pool: impl FnOnce() -> anyhow::Result<MySqlPool>,
    ) -> anyhow::Result<(Router, ServiceContext)> {
        let pool = pool()?;
        let ctx = crate::context(pool.clone());
        Ok((crate::router(AppState { pool }, &ctx), ctx))
    }

    fn log_migrated(database: &str) {
        tracing::info!(database, "migrations applied");
    }

    fn log_failure(e: &anyhow::Error) {
        tracing::error!(error = format!("{e:#}"), "{SERVICE} failed");
    }
}

/// Parses the command line and environment, runs, and maps the outcome to an exit
/// code (see [`service::main`]).
pub fn main() -> ExitCode {
    service::main::<Products>()
}
