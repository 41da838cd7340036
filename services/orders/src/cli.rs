//! Command line: `orders migrate` and `orders serve`, configured from the
//! environment (see [`kubestore_common::config`]).

use crate::{AppState, DEFAULT_PORT, MIGRATOR, SERVICE};
use anyhow::Context;
use clap::{Parser, Subcommand};
use kubestore_common::client::Upstream;
use kubestore_common::config::{self, LogArgs, ServeArgs, UpstreamArgs};
use kubestore_common::db::{self, DatabaseArgs};
use kubestore_common::server;
use std::process::ExitCode;
use std::time::Duration;

/// KubeStore orders service.
#[derive(Debug, Parser)]
#[command(name = "orders", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the database if missing, apply pending migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Serve the HTTP API.
    Serve {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        upstream: UpstreamArgs,
        #[command(flatten)]
        deps: Dependencies,
    },
}

/// Where the services orders calls live, and how idempotency keys behave.
#[derive(Debug, clap::Args)]
struct Dependencies {
    /// Base URL of the users service (`USERS_URL`).
    #[arg(long, env = "USERS_URL", default_value = "http://127.0.0.1:8081")]
    users_url: String,
    /// Base URL of the products service (`PRODUCTS_URL`).
    #[arg(long, env = "PRODUCTS_URL", default_value = "http://127.0.0.1:8082")]
    products_url: String,
    /// How long a request waits for a concurrent one with the same Idempotency-Key
    /// before answering 409 request_in_progress (`IDEMPOTENCY_WAIT`).
    #[arg(long, env = "IDEMPOTENCY_WAIT", default_value = "10s", value_parser = config::parse_duration)]
    idempotency_wait: Duration,
    /// After how long an unfinished Idempotency-Key claim (its owner crashed) may be
    /// taken over (`IDEMPOTENCY_LEASE`).
    #[arg(long, env = "IDEMPOTENCY_LEASE", default_value = "30s", value_parser = config::parse_duration)]
    idempotency_lease: Duration,
}

/// Parses the command line and environment, runs, and maps the outcome to an exit
/// code (clap exits with 2 itself on a malformed variable).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = match &cli.command {
        Command::Migrate { log, .. } | Command::Serve { log, .. } => log.rust_log.clone(),
    };
    if let Err(e) = kubestore_common::telemetry::init(&log) {
        eprintln!("{SERVICE}: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{SERVICE}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "{SERVICE} failed");
            eprintln!("{SERVICE}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate { db: db_args, log } => {
            let url = db_args.url(SERVICE);
            config::print_config(
                SERVICE,
                &[
                    ("DATABASE_URL", config::mask_url(&url)),
                    ("RUST_LOG", log.rust_log),
                ],
            );
            db::migrate(&url, &MIGRATOR, Duration::from_secs(60)).await?;
            tracing::info!(database = %config::mask_url(&url), "migrations applied");
            Ok(())
        }
        Command::Serve {
            serve,
            db: db_args,
            log,
            upstream,
            deps,
        } => {
            let url = db_args.url(SERVICE);
            let addr = serve.listen_addr(DEFAULT_PORT);
            config::print_config(
                SERVICE,
                &[
                    ("LISTEN_ADDR", addr.to_string()),
                    ("DATABASE_URL", config::mask_url(&url)),
                    (
                        "DATABASE_MAX_CONNECTIONS",
                        db_args.database_max_connections.to_string(),
                    ),
                    ("DRAIN_SECONDS", format!("{:?}", serve.drain_seconds)),
                    ("RUST_LOG", log.rust_log),
                    ("USERS_URL", config::mask_url(&deps.users_url)),
                    ("PRODUCTS_URL", config::mask_url(&deps.products_url)),
                    (
                        "UPSTREAM_TIMEOUT",
                        format!("{:?}", upstream.upstream_timeout),
                    ),
                    ("UPSTREAM_RETRIES", upstream.upstream_retries.to_string()),
                    ("IDEMPOTENCY_WAIT", format!("{:?}", deps.idempotency_wait)),
                    ("IDEMPOTENCY_LEASE", format!("{:?}", deps.idempotency_lease)),
                ],
            );
            let upstreams = crate::upstream::Upstreams::new(
                Upstream::new("users", &deps.users_url, &upstream)?,
                Upstream::new("products", &deps.products_url, &upstream)?,
            );
            let pool = db::pool(&url, db_args.database_max_connections)?;
            let ctx = crate::context(pool.clone());
            let mut state = AppState::new(pool, upstreams);
            state.idempotency = crate::idempotency::Settings {
                wait: deps.idempotency_wait,
                lease: deps.idempotency_lease,
            };
            let app = crate::router(state, &ctx);
            let listener = server::bind(addr).await?;
            server::serve(listener, app, &ctx, serve.drain_seconds)
                .await
                .context("server failed")
        }
    }
}
