//! Command line: `users migrate` and `users serve`, configured from the
//! environment (see [`kubestore_common::config`]).

use crate::{AppState, DEFAULT_PORT, MIGRATOR, SERVICE};
use anyhow::Context;
use clap::{Parser, Subcommand};
use kubestore_common::config::{self, LogArgs, ServeArgs};
use kubestore_common::db::{self, DatabaseArgs};
use kubestore_common::server;
use std::process::ExitCode;
use std::time::Duration;

/// KubeStore users service.
#[derive(Debug, Parser)]
#[command(name = "users", version, about)]
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
    },
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
                ],
            );
            let pool = db::pool(&url, db_args.database_max_connections)?;
            let ctx = crate::context(pool.clone());
            let app = crate::router(AppState { pool }, &ctx);
            let listener = server::bind(addr).await?;
            server::serve(listener, app, &ctx, serve.drain_seconds)
                .await
                .context("server failed")
        }
    }
}
