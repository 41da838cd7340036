//! The command line every MySQL-backed service shares: `<service> migrate` and
//! `<service> serve`, their database/listen/log arguments and the start-up around
//! them (logging, runtime, effective-configuration line, exit codes).
//!
//! A service keeps only what is its own: its name, version, description and port
//! ([`MysqlService`]), any extra `serve` arguments ([`MysqlService::Extra`]) and how it
//! builds its router; one whose router needs only its pool writes nothing but a
//! [`pool_service_main!`] line.

use crate::config::{self, Echo, LogArgs, ServeArgs};
use crate::db::{self, DatabaseArgs};
use crate::server::{self, ServiceContext};
use anyhow::Context;
use axum::Router;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use sqlx::MySqlPool;
use sqlx::migrate::Migrator;
use std::process::ExitCode;
use std::time::Duration;

/// What a MySQL-backed service plugs into [`main`].
pub trait MysqlService {
    /// Service name: the binary's name in `--version`, and the name used in log
    /// lines, error messages and the default database name.
    const NAME: &'static str;
    /// `--version`: the service crate's `CARGO_PKG_VERSION`.
    const VERSION: &'static str;
    /// `--help`: the service crate's `CARGO_PKG_DESCRIPTION`.
    const ABOUT: &'static str;
    /// Port used when `LISTEN_ADDR` is unset.
    const DEFAULT_PORT: u16;
    /// `serve` arguments of this service alone, shown after the shared ones.
    type Extra: Args + std::fmt::Debug;

    /// The service's embedded schema migrations.
    fn migrator() -> &'static Migrator;

    /// Adds the settings of [`Self::Extra`] to the start-up line, after the shared
    /// ones; none by default.
    fn echo(extra: &Self::Extra, echo: &mut Echo) {
        let _ = (extra, echo);
    }

    /// Builds the router and its context. `pool` opens the (lazy) database pool; it
    /// is a closure so that a service can validate its own settings first and keep
    /// reporting those errors before a database URL error.
    fn app(
        extra: Self::Extra,
        pool: impl FnOnce() -> anyhow::Result<MySqlPool>,
    ) -> anyhow::Result<(Router, ServiceContext)>;

    /// Logs that `migrate` applied the migrations to `database` (masked URL).
    ///
    /// This and [`Self::log_failure`] live in the service, not here, because a
    /// `tracing` event's `target` is fixed where the macro is written: so the
    /// start-up lines keep the service's own target (`kubestore_<service>::cli`).
    fn log_migrated(database: &str);

    /// Logs the error that ends the process.
    fn log_failure(e: &anyhow::Error);
}

/// The whole command line of a MySQL service whose router needs nothing but its
/// pool (users, products): a [`MysqlService`] without extra arguments, and the
/// `pub fn main()` that runs it. `service` is a `fn(MySqlPool) -> (Router,
/// ServiceContext)`.
///
/// A macro rather than a generic function so that what must be the calling crate's
/// stays its own: `--version` and `--help` from its `Cargo.toml`, and the `tracing`
/// target of the two start-up log lines (see [`MysqlService::log_migrated`]).
#[macro_export]
macro_rules! pool_service_main {
    (name: $name:expr, port: $port:expr, migrator: $migrator:expr, service: $service:path $(,)?) => {
        /// What the shared command line needs to know about this service.
        struct Service;

        impl $crate::service::MysqlService for Service {
            const NAME: &'static str = $name;
            const VERSION: &'static str = env!("CARGO_PKG_VERSION");
            const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
            const DEFAULT_PORT: u16 = $port;
            type Extra = $crate::service::NoExtraArgs;

            fn migrator() -> &'static $crate::service::__private::sqlx::migrate::Migrator {
                &$migrator
            }

            fn app(
                _: $crate::service::NoExtraArgs,
                pool: impl FnOnce() -> $crate::service::__private::anyhow::Result<
                    $crate::service::__private::sqlx::MySqlPool,
                >,
            ) -> $crate::service::__private::anyhow::Result<(
                $crate::service::__private::axum::Router,
                $crate::ServiceContext,
            )> {
                Ok($service(pool()?))
            }

            fn log_migrated(database: &str) {
                $crate::service::__private::tracing::info!(database, "migrations applied");
            }

            fn log_failure(e: &$crate::service::__private::anyhow::Error) {
                $crate::service::__private::tracing::error!(
                    error = format!("{e:#}"),
                    "{} failed",
                    $name
                );
            }
        }

        /// Parses the command line and environment, runs, and maps the outcome to an
        /// exit code (see [`kubestore_common::service::main`]).
        pub fn main() -> ::std::process::ExitCode {
            $crate::service::main::<Service>()
        }
    };
}

/// What [`pool_service_main!`] names, so the calling crate needs no dependency of
/// its own on them.
#[doc(hidden)]
pub mod __private {
    pub use anyhow;
    pub use axum;
    pub use sqlx;
    pub use tracing;
}

/// `serve` arguments for a service that has none of its own.
#[derive(Debug, Args)]
pub struct NoExtraArgs {}

/// The command line; its name, version and description are the service's, set in
/// [`main`].
#[derive(Debug, Parser)]
struct Cli<X: Args> {
    #[command(subcommand)]
    command: Command<X>,
}

/// The `migrate` and `serve` subcommands; `X` are the service's extra `serve` args.
#[derive(Debug, Subcommand)]
enum Command<X: Args> {
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
        extra: X,
    },
}

/// Parses the command line and environment, runs, and maps the outcome to an exit
/// code: 2 when logging cannot start, 1 when the runtime cannot start or the command
/// fails (clap exits with 2 itself on a malformed variable).
pub fn main<S: MysqlService>() -> ExitCode {
    // What `#[command(name = .., version, about)]` would set, had the service
    // derived the parser itself; then what `Parser::parse` does.
    let mut cli = Cli::<S::Extra>::command()
        .name(S::NAME)
        .version(S::VERSION)
        .about(S::ABOUT)
        .long_about(None);
    let matches = cli.clone().try_get_matches().unwrap_or_else(|e| e.exit());
    let command = Cli::<S::Extra>::from_arg_matches(&matches)
        .unwrap_or_else(|e| e.format(&mut cli).exit())
        .command;
    let log = match &command {
        Command::Migrate { log, .. } | Command::Serve { log, .. } => log.rust_log.clone(),
    };
    let service = S::NAME;
    if let Err(e) = crate::telemetry::init(&log) {
        eprintln!("{service}: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{service}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::<S>(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            S::log_failure(&e);
            eprintln!("{service}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run<S: MysqlService>(command: Command<S::Extra>) -> anyhow::Result<()> {
    let service = S::NAME;
    match command {
        Command::Migrate { db: db_args, log } => {
            let url = db_args.url(service);
            let mut echo = Echo::new();
            echo.url("DATABASE_URL", &url);
            log.echo(&mut echo);
            echo.log(service);
            db::migrate(&url, S::migrator(), Duration::from_secs(60)).await?;
            S::log_migrated(&config::mask_url(&url));
            Ok(())
        }
        Command::Serve {
            serve,
            db: db_args,
            log,
            extra,
        } => {
            let url = db_args.url(service);
            let addr = serve.listen_addr(S::DEFAULT_PORT);
            let mut echo = Echo::new();
            serve.echo(S::DEFAULT_PORT, &mut echo);
            db_args.echo(service, &mut echo);
            log.echo(&mut echo);
            S::echo(&extra, &mut echo);
            echo.log(service);
            let (app, ctx) = S::app(extra, || {
                Ok(db::pool(&url, db_args.database_max_connections)?)
            })?;
            let listener = server::bind(addr).await?;
            server::serve(listener, app, &ctx, serve.drain_seconds)
                .await
                .context("server failed")
        }
    }
}
