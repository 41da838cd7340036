//! The command line every service shares: `<service> migrate` and `<service> serve`,
//! its name, version and description from the service's crate, and the start-up
//! around them (logging, runtime, exit codes, the one report of the error that ends
//! the process).
//!
//! A service keeps only what is its own ([`Service`]): the arguments of each
//! subcommand ([`Settings`]) and what the subcommands do. The MySQL-backed services
//! (feature `mysql`) share more: the database, listen and log arguments and the whole
//! of `migrate` and `serve` ([`MysqlService`], which is a [`Service`]); one whose
//! router needs only its pool writes nothing but a [`pool_service_main!`] line.

use crate::config::LogArgs;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::future::Future;
use std::process::ExitCode;

/// The arguments of one subcommand.
pub trait Settings: Args + std::fmt::Debug {
    /// The log settings among them; `None` for a command that does not log, which
    /// then starts no logger.
    fn log(&self) -> Option<&LogArgs>;
}

/// What a service plugs into [`main`].
pub trait Service {
    /// Service name: the binary's name in `--version` and `--help`, and the prefix of
    /// the error report.
    const NAME: &'static str;
    /// `--version`: the service crate's `CARGO_PKG_VERSION`.
    const VERSION: &'static str;
    /// `--help`: the service crate's `CARGO_PKG_DESCRIPTION`.
    const ABOUT: &'static str;
    /// What `migrate` does, for `--help`.
    const MIGRATE_ABOUT: &'static str;
    /// What `serve` does, for `--help`.
    const SERVE_ABOUT: &'static str;
    /// Arguments of `migrate`.
    type Migrate: Settings;
    /// Arguments of `serve`.
    type Serve: Settings;

    /// Runs `migrate`, logging already started.
    fn migrate(settings: Self::Migrate) -> impl Future<Output = anyhow::Result<()>>;

    /// Runs `serve` until it has drained, logging already started.
    fn serve(settings: Self::Serve) -> impl Future<Output = anyhow::Result<()>>;

    /// Logs the error that ends the process; nothing by default.
    ///
    /// It lives in the service, not here, because a `tracing` event's `target` is
    /// fixed where the macro is written: so the line keeps the service's own target.
    fn log_failure(e: &anyhow::Error) {
        let _ = e;
    }
}

/// Arguments of a command or section that has none.
#[derive(Debug, Args)]
pub struct NoArgs {}

impl Settings for NoArgs {
    fn log(&self) -> Option<&LogArgs> {
        None
    }
}

/// The command line; its name, version and descriptions are the service's, set in
/// [`command`].
#[derive(Debug, Parser)]
struct Cli<M: Args, S: Args> {
    #[command(subcommand)]
    command: Command<M, S>,
}

/// The two subcommands, with the service's arguments.
#[derive(Debug, Subcommand)]
enum Command<M: Args, S: Args> {
    Migrate {
        #[command(flatten)]
        settings: M,
    },
    Serve {
        #[command(flatten)]
        settings: S,
    },
}

/// The command line of `S`, as `--help` shows it.
pub fn command<S: Service>() -> clap::Command {
    // What `#[command(name = .., version, about)]` and the subcommands' doc comments
    // would set, had the service derived the parser itself.
    Cli::<S::Migrate, S::Serve>::command()
        .name(S::NAME)
        .version(S::VERSION)
        .about(S::ABOUT)
        .long_about(None)
        .mut_subcommand("migrate", |c| c.about(S::MIGRATE_ABOUT))
        .mut_subcommand("serve", |c| c.about(S::SERVE_ABOUT))
}

/// Parses the command line and environment, runs, and maps the outcome to an exit
/// code: 2 when logging cannot start, 1 when the runtime cannot start or the command
/// fails (clap exits with 2 itself on a malformed variable).
pub fn main<S: Service>() -> ExitCode {
    // What `Parser::parse` does, on the command line `command` named.
    let mut cli = command::<S>();
    let matches = cli.clone().try_get_matches().unwrap_or_else(|e| e.exit());
    let command = Cli::<S::Migrate, S::Serve>::from_arg_matches(&matches)
        .unwrap_or_else(|e| e.format(&mut cli).exit())
        .command;
    let log = match &command {
        Command::Migrate { settings } => settings.log(),
        Command::Serve { settings } => settings.log(),
    };
    let service = S::NAME;
    if let Some(Err(e)) = log.map(|log| crate::telemetry::init(&log.rust_log)) {
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
    let outcome = runtime.block_on(async {
        match command {
            Command::Migrate { settings } => S::migrate(settings).await,
            Command::Serve { settings } => S::serve(settings).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            S::log_failure(&e);
            eprintln!("{service}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The catalogue's `calls` of `S` against the `<DEP>_URL` variables its `serve`
/// reads: one line per difference (a dependency not read, one read that the
/// catalogue does not list, a default that is not the dependency's local URL);
/// empty when they agree. Each service's tests assert it is empty, so a dependency
/// changed in the catalogue fails them until the service reads it.
pub fn catalogue_differences<S: Service>() -> Vec<String> {
    use crate::catalog;
    let Some(def) = catalog::service(S::NAME) else {
        return vec![format!("{} is not in the catalogue", S::NAME)];
    };
    let cli = command::<S>();
    let Some(serve) = cli.find_subcommand("serve") else {
        return vec!["there is no serve subcommand".to_owned()];
    };
    let mut differences = Vec::new();
    let mut read = Vec::new();
    for arg in serve.get_arguments() {
        let Some(variable) = arg.get_env().and_then(|v| v.to_str()) else {
            continue;
        };
        let Some(dep) = catalog::SERVICES
            .iter()
            .find(|d| d.url_variable() == variable)
        else {
            continue;
        };
        read.push(dep.name);
        if !def.calls.contains(&dep.name) {
            differences.push(format!(
                "{variable} is read, but the catalogue has no call to {}",
                dep.name
            ));
        }
        let default: Vec<_> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let local = crate::config::local_url(dep.name);
        if default != [local.as_str()] {
            differences.push(format!("{variable} defaults to {default:?}, not {local}"));
        }
    }
    let reads_key_ttl = serve
        .get_arguments()
        .any(|arg| arg.get_env().and_then(|v| v.to_str()) == Some(KEY_TTL_VARIABLE));
    match (def.stores_idempotency_keys(), reads_key_ttl) {
        (true, false) => differences.push(format!(
            "stores Idempotency-Key answers, but serve reads no {KEY_TTL_VARIABLE}"
        )),
        (false, true) => differences.push(format!(
            "{KEY_TTL_VARIABLE} is read, but the catalogue has no route keyed by Idempotency-Key"
        )),
        _ => {}
    }
    for dep in def.calls {
        let variable = catalog::service(dep).map(|d| d.url_variable());
        match read.iter().filter(|r| *r == dep).count() {
            1 => {}
            0 => differences.push(format!(
                "calls {dep}, but serve reads no {}",
                variable.unwrap_or_default()
            )),
            n => differences.push(format!("{dep}'s URL is read {n} times")),
        }
    }
    differences
}

/// What a service that stores `Idempotency-Key` answers reads their lifetime from.
const KEY_TTL_VARIABLE: &str = "IDEMPOTENCY_KEY_TTL";

#[cfg(feature = "mysql")]
pub use mysql::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::local_url;

    /// A cart that reads users, which the catalogue says it does not call, at a
    /// wrong default, and reads neither orders, which it calls, nor how long it
    /// keeps the answers of its keyed checkout.
    struct MiswiredCart;

    #[derive(Debug, Args)]
    struct Reads {
        #[arg(long, env = "PRODUCTS_URL", default_value_t = local_url("products"))]
        products_url: String,
        #[arg(long, env = "USERS_URL", default_value = "http://127.0.0.1:1")]
        users_url: String,
    }

    impl Settings for Reads {
        fn log(&self) -> Option<&LogArgs> {
            None
        }
    }

    impl Service for MiswiredCart {
        const NAME: &'static str = "cart";
        const VERSION: &'static str = "0";
        const ABOUT: &'static str = "";
        const MIGRATE_ABOUT: &'static str = "";
        const SERVE_ABOUT: &'static str = "";
        type Migrate = NoArgs;
        type Serve = Reads;

        async fn migrate(_: NoArgs) -> anyhow::Result<()> {
            Ok(())
        }

        async fn serve(_: Reads) -> anyhow::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn differences_from_the_catalogue_are_named() {
        assert_eq!(
            catalogue_differences::<MiswiredCart>(),
            [
                "USERS_URL is read, but the catalogue has no call to users".to_owned(),
                format!(
                    "USERS_URL defaults to [\"http://127.0.0.1:1\"], not {}",
                    local_url("users")
                ),
                "stores Idempotency-Key answers, but serve reads no IDEMPOTENCY_KEY_TTL".to_owned(),
                "calls orders, but serve reads no ORDERS_URL".to_owned(),
            ]
        );
    }
}

/// The whole command line of a MySQL service whose router needs nothing but its
/// pool (users, products): a [`MysqlService`] without arguments of its own, the
/// `pub fn main()` that runs it, and the test that its `serve` reads the URL of
/// each service the catalogue says it calls ([`catalogue_differences`]). `service` is a `fn(MySqlPool) -> (Router,
/// ServiceContext)`. A service with an `idempotency_keys` table adds
/// `idempotency_keys: <its claim Settings>`: its `serve` then reads
/// `IDEMPOTENCY_KEY_TTL` and sweeps expired keys.
///
/// A macro rather than a generic function so that what must be the calling crate's
/// stays its own: `--version` and `--help` from its `Cargo.toml`, and the `tracing`
/// target of the two start-up log lines (see [`MysqlService::log_migrated`]).
#[cfg(feature = "mysql")]
#[macro_export]
macro_rules! pool_service_main {
    (name: $name:expr, port: $port:expr, migrator: $migrator:expr, service: $service:path $(,)?) => {
        $crate::pool_service_main!(@main $name, $port, $migrator, $service,
            $crate::service::NoArgs, |_| None);
    };
    (name: $name:expr, port: $port:expr, migrator: $migrator:expr, service: $service:path,
     idempotency_keys: $keys:expr $(,)?) => {
        $crate::pool_service_main!(@main $name, $port, $migrator, $service,
            $crate::config::IdempotencyKeyTtl,
            |extra: &$crate::config::IdempotencyKeyTtl| Some(
                $crate::idempotency::mysql::Retention {
                    ttl: extra.idempotency_key_ttl,
                    lease: $keys.lease,
                }
            ));
    };
    (@main $name:expr, $port:expr, $migrator:expr, $service:path, $extra:ty, $retention:expr) => {
        /// What the shared command line needs to know about this service.
        struct Service;

        impl $crate::service::MysqlService for Service {
            const NAME: &'static str = $name;
            const VERSION: &'static str = env!("CARGO_PKG_VERSION");
            const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
            const DEFAULT_PORT: u16 = $port;
            type Extra = $extra;

            fn migrator() -> &'static $crate::service::__private::sqlx::migrate::Migrator {
                &$migrator
            }

            fn idempotency_keys(
                extra: &$extra,
            ) -> ::std::option::Option<$crate::idempotency::mysql::Retention> {
                ($retention)(extra)
            }

            fn app(
                _: $extra,
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

        #[cfg(test)]
        #[test]
        fn serve_reads_the_urls_of_what_the_catalogue_says_it_calls() {
            ::std::assert_eq!(
                $crate::service::catalogue_differences::<Service>(),
                ::std::vec::Vec::<::std::string::String>::new()
            );
        }
    };
}

/// What [`pool_service_main!`] names, so the calling crate needs no dependency of
/// its own on them.
#[cfg(feature = "mysql")]
#[doc(hidden)]
pub mod __private {
    pub use anyhow;
    pub use axum;
    pub use sqlx;
    pub use tracing;
}

/// The `migrate` and `serve` of the MySQL-backed services.
#[cfg(feature = "mysql")]
mod mysql {
    use super::{KEY_TTL_VARIABLE, Service, Settings};
    use crate::config::{self, Echo, LogArgs, ServeArgs};
    use crate::db::{self, DatabaseArgs};
    use crate::idempotency::{self, mysql::Retention};
    use crate::server::{self, ServiceContext};
    use anyhow::Context;
    use axum::Router;
    use clap::Args;
    use sqlx::MySqlPool;
    use sqlx::migrate::Migrator;
    use std::time::Duration;

    /// What a MySQL-backed service plugs into [`main`](super::main).
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

        /// How long the service keeps the rows of its `idempotency_keys` table and
        /// the lease of its claims, if it has that table: `serve` then removes
        /// expired rows in the background ([`idempotency::mysql::keep_sweeping`]).
        /// `None` by default, for a service without the table.
        fn idempotency_keys(extra: &Self::Extra) -> Option<Retention> {
            let _ = extra;
            None
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
        /// This and [`Self::log_failure`] live in the service for the reason given at
        /// [`Service::log_failure`]: the start-up lines keep the service's own target
        /// (`kubestore_<service>::cli`).
        fn log_migrated(database: &str);

        /// Logs the error that ends the process.
        fn log_failure(e: &anyhow::Error);
    }

    /// `migrate` of a MySQL service.
    #[derive(Debug, Args)]
    pub struct MigrateArgs {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(flatten)]
        log: LogArgs,
    }

    /// `serve` of a MySQL service; `X` are the service's own arguments.
    #[derive(Debug, Args)]
    pub struct ServeWith<X: Args> {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        extra: X,
    }

    impl Settings for MigrateArgs {
        fn log(&self) -> Option<&LogArgs> {
            Some(&self.log)
        }
    }

    impl<X: Args + std::fmt::Debug> Settings for ServeWith<X> {
        fn log(&self) -> Option<&LogArgs> {
            Some(&self.log)
        }
    }

    impl<S: MysqlService> Service for S {
        const NAME: &'static str = <S as MysqlService>::NAME;
        const VERSION: &'static str = <S as MysqlService>::VERSION;
        const ABOUT: &'static str = <S as MysqlService>::ABOUT;
        const MIGRATE_ABOUT: &'static str =
            "Create the database if missing, apply pending migrations and exit";
        const SERVE_ABOUT: &'static str = "Serve the HTTP API";
        type Migrate = MigrateArgs;
        type Serve = ServeWith<S::Extra>;

        async fn migrate(MigrateArgs { db: db_args, log }: MigrateArgs) -> anyhow::Result<()> {
            let service = <S as MysqlService>::NAME;
            let url = db_args.url(service);
            let mut echo = Echo::new();
            echo.url("DATABASE_URL", &url);
            log.echo(&mut echo);
            echo.log(service);
            db::migrate(&url, S::migrator(), Duration::from_secs(60)).await?;
            S::log_migrated(&config::mask_url(&url));
            Ok(())
        }

        async fn serve(
            ServeWith {
                serve,
                db: db_args,
                log,
                extra,
            }: ServeWith<S::Extra>,
        ) -> anyhow::Result<()> {
            let service = <S as MysqlService>::NAME;
            let url = db_args.url(service);
            let mut echo = Echo::new();
            serve.echo(S::DEFAULT_PORT, &mut echo);
            db_args.echo(service, &mut echo);
            log.echo(&mut echo);
            S::echo(&extra, &mut echo);
            let retention = S::idempotency_keys(&extra);
            if let Some(retention) = retention {
                echo.duration(KEY_TTL_VARIABLE, retention.ttl);
            }
            echo.log(service);
            let mut opened = None;
            let (app, ctx) = S::app(extra, || {
                let pool = db::pool(&url, db_args.database_max_connections)?;
                opened = Some(pool.clone());
                Ok(pool)
            })?;
            let sweeper = retention.zip(opened).map(|(retention, pool)| {
                tokio::spawn(idempotency::mysql::keep_sweeping(pool, retention))
            });
            let served = server::serve_with(&serve, S::DEFAULT_PORT, app, &ctx).await;
            // Stopped with the server: each batch is its own statement, so stopping
            // between or during them loses nothing the next process will not sweep.
            if let Some(sweeper) = sweeper {
                sweeper.abort();
            }
            served.context("server failed")
        }

        fn log_failure(e: &anyhow::Error) {
            <S as MysqlService>::log_failure(e);
        }
    }
}
