//! Command line: `orders migrate` and `orders serve`, configured from the
//! environment (see [`kubestore_common::config`]); the shared part lives in
//! [`kubestore_common::service`], orders adds its upstream and idempotency settings.

use crate::upstream::{Dependencies, Upstreams};
use crate::{AppState, DEFAULT_PORT, MIGRATOR, SERVICE};
use axum::Router;
use kubestore_common::ServiceContext;
use kubestore_common::config::{self, Echo, IdempotencyKeyTtl, UpstreamArgs};
use kubestore_common::idempotency::mysql::Retention;
use kubestore_common::service::{self, MysqlService};
use sqlx::MySqlPool;
use sqlx::migrate::Migrator;
use std::process::ExitCode;
use std::time::Duration;

/// The `serve` arguments of orders alone.
#[derive(Debug, clap::Args)]
struct Extra {
    #[command(flatten)]
    upstream: UpstreamArgs,
    #[command(flatten)]
    deps: Dependencies,
    #[command(flatten)]
    idempotency: Idempotency,
}

/// How idempotency keys behave.
#[derive(Debug, clap::Args)]
struct Idempotency {
    /// How long a request waits for a concurrent one with the same Idempotency-Key
    /// before answering 409 request_in_progress (`IDEMPOTENCY_WAIT`).
    #[arg(long, env = "IDEMPOTENCY_WAIT", default_value = "10s", value_parser = config::parse_duration)]
    idempotency_wait: Duration,
    /// After how long an unfinished Idempotency-Key claim (its owner crashed) may be
    /// taken over (`IDEMPOTENCY_LEASE`).
    #[arg(long, env = "IDEMPOTENCY_LEASE", default_value = "30s", value_parser = config::parse_duration)]
    idempotency_lease: Duration,
    #[command(flatten)]
    ttl: IdempotencyKeyTtl,
}

impl Idempotency {
    fn settings(&self) -> crate::idempotency::Settings {
        crate::idempotency::Settings {
            wait: self.idempotency_wait,
            lease: self.idempotency_lease,
        }
    }
}

/// What the shared command line needs to know about orders.
struct Orders;

impl MysqlService for Orders {
    const NAME: &'static str = SERVICE;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
    const DEFAULT_PORT: u16 = DEFAULT_PORT;
    type Extra = Extra;

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn echo(
        Extra {
            upstream,
            deps,
            idempotency,
        }: &Extra,
        echo: &mut Echo,
    ) {
        deps.echo(upstream, echo);
        echo.duration("IDEMPOTENCY_WAIT", idempotency.idempotency_wait)
            .duration("IDEMPOTENCY_LEASE", idempotency.idempotency_lease);
    }

    fn idempotency_keys(extra: &Extra) -> Option<Retention> {
        Some(Retention {
            ttl: extra.idempotency.ttl.idempotency_key_ttl,
            lease: extra.idempotency.idempotency_lease,
        })
    }

    fn app(
        Extra {
            upstream,
            deps,
            idempotency,
        }: Extra,
        pool: impl FnOnce() -> anyhow::Result<MySqlPool>,
    ) -> anyhow::Result<(Router, ServiceContext)> {
        let upstreams = Upstreams::new(&deps, &upstream)?;
        let pool = pool()?;
        let ctx = crate::context(pool.clone());
        let mut state = AppState::new(pool, upstreams);
        state.idempotency = idempotency.settings();
        Ok((crate::router(state, &ctx), ctx))
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
    service::main::<Orders>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_reads_the_urls_of_what_the_catalogue_says_it_calls() {
        assert_eq!(
            service::catalogue_differences::<Orders>(),
            Vec::<String>::new()
        );
    }
}
