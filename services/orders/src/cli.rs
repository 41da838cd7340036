//! Command line: `orders migrate` and `orders serve`, configured from the environment
//! (see [`kubestore_common::service`], which runs both); orders adds its upstream and
//! idempotency settings, and sweeps the expired rows of its `idempotency_keys` table
//! while it serves.

use crate::upstream::{Dependencies, Upstreams};
use crate::{AppState, MIGRATOR, SERVICE};
use kubestore_common::config::{self, Echo, IdempotencyKeyTtl, UpstreamArgs};
use kubestore_common::db::DatabaseArgs;
use kubestore_common::defaults;
use kubestore_common::idempotency::mysql::{Retention, keep_sweeping};
use kubestore_common::runtime::env;
use kubestore_common::service::{self, App, Mysql, Service};
use sqlx::MySqlPool;
use std::process::ExitCode;
use std::time::Duration;

/// The `serve` arguments of orders alone.
#[derive(Debug, clap::Args)]
pub struct Args {
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
    #[arg(long, env = env::IDEMPOTENCY_WAIT, default_value = defaults::IDEMPOTENCY_WAIT, value_parser = config::parse_duration)]
    idempotency_wait: Duration,
    /// After how long an unfinished Idempotency-Key claim (its owner crashed) may be
    /// taken over (`IDEMPOTENCY_LEASE`).
    #[arg(long, env = env::IDEMPOTENCY_LEASE, default_value = defaults::IDEMPOTENCY_LEASE, value_parser = config::parse_duration)]
    idempotency_lease: Duration,
    #[command(flatten)]
    ttl: IdempotencyKeyTtl,
}

/// The orders service, as the shared command line runs it.
pub struct Orders;

impl Service for Orders {
    const NAME: &'static str = SERVICE;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
    type Store = Mysql;
    const STORE: Mysql = Mysql(&MIGRATOR);
    type Args = Args;

    fn echo(
        Args {
            upstream,
            deps,
            idempotency,
        }: &Args,
        _: &DatabaseArgs,
        echo: &mut Echo,
    ) {
        deps.echo(upstream, echo);
        echo.duration(env::IDEMPOTENCY_WAIT, idempotency.idempotency_wait)
            .duration(env::IDEMPOTENCY_LEASE, idempotency.idempotency_lease);
        idempotency.ttl.echo(echo);
    }

    fn app(
        Args {
            upstream,
            deps,
            idempotency,
        }: Args,
        pool: MySqlPool,
    ) -> anyhow::Result<App> {
        let upstreams = Upstreams::new(&deps, &upstream)?;
        let mut state = AppState::new(pool.clone(), upstreams);
        state.idempotency = crate::idempotency::Settings {
            wait: idempotency.idempotency_wait,
            lease: idempotency.idempotency_lease,
        };
        let retention = Retention {
            ttl: idempotency.ttl.idempotency_key_ttl,
            lease: idempotency.idempotency_lease,
        };
        let (router, ctx) = crate::service(state);
        Ok(App::new(router, ctx).with_task(keep_sweeping(pool, retention)))
    }
}

/// Runs the command line (see [`service::main`]).
pub fn main() -> ExitCode {
    service::main::<Orders>()
}
