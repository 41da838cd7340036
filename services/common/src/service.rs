//! The command line every service shares, `<service> migrate` and `<service> serve`,
//! and the start-up around them: name, version and description from the service's
//! crate, logging, the start-up configuration line, the runtime, the background tasks,
//! exit codes and the one report of the error that ends the process ([`main`]).
//!
//! A service says only what is its own, in one [`Service`]: its name, its own `serve`
//! arguments and how they build its router. Where it keeps its state is a [`Store`]:
//! the settings both subcommands read, what `migrate` does and what `serve` opens.
//! This crate has the stores of the MySQL services ([`Mysql`], feature `mysql`) and of
//! a service without state ([`Stateless`]); the cart brings its Redis.

use crate::config::{Echo, LogArgs, ServeArgs};
use crate::server::{self, ServiceContext};
use anyhow::Context;
use axum::Router;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

/// What a service plugs into [`main`].
pub trait Service {
    /// Service name: the binary's name in `--version` and `--help`, its entry in the
    /// catalogue, and the prefix of the error report.
    const NAME: &'static str;
    /// `--version`: the service crate's `CARGO_PKG_VERSION`.
    const VERSION: &'static str;
    /// `--help`: the service crate's `CARGO_PKG_DESCRIPTION`.
    const ABOUT: &'static str;
    /// What `serve` does, for `--help`.
    const SERVE_ABOUT: &'static str = "Serve the HTTP API";
    /// Port used when `LISTEN_ADDR` is unset: the catalogue's.
    const DEFAULT_PORT: u16 = crate::catalog::port(Self::NAME);
    /// Where the service keeps its state.
    type Store: Store;
    /// The store itself, e.g. `Mysql(&MIGRATOR)`.
    const STORE: Self::Store;
    /// The `serve` arguments of this service alone, shown after the shared ones
    /// (`LISTEN_ADDR`, `DRAIN_SECONDS`, `RUST_LOG` and the store's).
    type Args: Args + std::fmt::Debug;

    /// Adds [`Self::Args`] to the start-up line, after the shared settings; `store`
    /// are the store's, for a setting derived from both.
    fn echo(args: &Self::Args, store: &StoreArgs<Self>, echo: &mut Echo);

    /// Builds what `serve` serves from the service's arguments and its opened store.
    fn app(args: Self::Args, store: <Self::Store as Store>::Handle) -> anyhow::Result<App>;
}

/// Where a service keeps its state: what both subcommands read, what `migrate` does,
/// and what `serve` opens before the service builds its router.
pub trait Store {
    /// What `migrate` does, for `--help`.
    const MIGRATE_ABOUT: &'static str;
    /// The store's settings.
    type Args: Args + std::fmt::Debug;
    /// What `serve` hands the service: a pool, a client, nothing.
    type Handle;

    /// Adds the store's settings to the start-up line of `service`.
    fn echo(&self, service: &str, args: &Self::Args, echo: &mut Echo);

    /// Runs `migrate` for `service`, logging already started.
    fn migrate(
        &self,
        service: &'static str,
        args: Self::Args,
    ) -> impl Future<Output = anyhow::Result<()>>;

    /// Opens the store for `serve`; lazily, so that `serve` starts, unready, while the
    /// store is down.
    fn open(&self, service: &'static str, args: Self::Args) -> anyhow::Result<Self::Handle>;
}

/// Work that runs beside the server until it has drained (e.g. removing expired keys).
type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What `serve` serves: the finished router, its context and its background work.
pub struct App {
    router: Router,
    ctx: ServiceContext,
    tasks: Vec<Task>,
}

impl App {
    /// The router finished with `ctx` ([`server::finish`]), and no background work.
    pub fn new(router: Router, ctx: ServiceContext) -> Self {
        Self {
            router,
            ctx,
            tasks: Vec::new(),
        }
    }

    /// Adds work that runs while the service serves and stops with the server.
    pub fn with_task(mut self, task: impl Future<Output = ()> + Send + 'static) -> Self {
        self.tasks.push(Box::pin(task));
        self
    }
}

impl From<(Router, ServiceContext)> for App {
    fn from((router, ctx): (Router, ServiceContext)) -> Self {
        Self::new(router, ctx)
    }
}

/// Arguments of a service or a store that has none.
#[derive(Debug, Clone, Args)]
// No argument group: a stateless service without arguments flattens it twice.
#[group(skip)]
pub struct NoArgs {}

/// The store of a service that keeps no state of its own: `migrate` does nothing.
pub struct Stateless;

impl Store for Stateless {
    const MIGRATE_ABOUT: &'static str = "Does nothing and exits 0: the service keeps no state \
        of its own. It exists so every service can be deployed the same way";
    type Args = NoArgs;
    type Handle = ();

    fn echo(&self, _: &str, _: &NoArgs, _: &mut Echo) {}

    async fn migrate(&self, service: &'static str, _: NoArgs) -> anyhow::Result<()> {
        println!("{service}: nothing to migrate");
        Ok(())
    }

    fn open(&self, _: &'static str, _: NoArgs) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The command line; its name, version and descriptions are the service's, set in
/// [`command`].
#[derive(Debug, Parser)]
struct Cli<D: Args, A: Args> {
    #[command(subcommand)]
    command: Command<D, A>,
}

/// The two subcommands: `D` are the store's arguments, `A` the service's own.
#[derive(Debug, Subcommand)]
enum Command<D: Args, A: Args> {
    Migrate {
        #[command(flatten)]
        store: D,
        #[command(flatten)]
        log: LogArgs,
    },
    Serve {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        store: D,
        #[command(flatten)]
        args: A,
    },
}

/// The arguments of the store of `S`.
pub type StoreArgs<S> = <<S as Service>::Store as Store>::Args;

/// The command line of `S`, as `--help` shows it.
pub fn command<S: Service>() -> clap::Command {
    // What `#[command(name = .., version, about)]` and the subcommands' doc comments
    // would set, had the service derived the parser itself.
    Cli::<StoreArgs<S>, S::Args>::command()
        .name(S::NAME)
        // Not the path it was started by: images start every service as /service.
        .bin_name(S::NAME)
        .version(S::VERSION)
        .about(S::ABOUT)
        .long_about(None)
        .mut_subcommand("migrate", |c| c.about(S::Store::MIGRATE_ABOUT))
        .mut_subcommand("serve", |c| c.about(S::SERVE_ABOUT))
}

/// Parses the command line and environment, runs, and maps the outcome to an exit
/// code: 2 when logging cannot start, 1 when the runtime cannot start or the command
/// fails (clap exits with 2 itself on a malformed variable).
pub fn main<S: Service>() -> ExitCode {
    // What `Parser::parse` does, on the command line `command` named.
    let mut cli = command::<S>();
    let matches = cli.clone().try_get_matches().unwrap_or_else(|e| e.exit());
    let command = Cli::<StoreArgs<S>, S::Args>::from_arg_matches(&matches)
        .unwrap_or_else(|e| e.format(&mut cli).exit())
        .command;
    let service = S::NAME;
    let (Command::Migrate { log, .. } | Command::Serve { log, .. }) = &command;
    if let Err(e) = crate::telemetry::init(&log.rust_log) {
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
            Command::Migrate { store, log } => {
                let mut echo = Echo::new();
                S::STORE.echo(service, &store, &mut echo);
                log.echo(&mut echo);
                echo.log(service);
                S::STORE.migrate(service, store).await
            }
            Command::Serve {
                serve,
                log,
                store,
                args,
            } => run::<S>(serve, log, store, args).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(service, error = format!("{e:#}"), "{service} failed");
            eprintln!("{service}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `serve`: the start-up line, the store, the service's router and its background
/// work, served until it has drained.
async fn run<S: Service>(
    serve: ServeArgs,
    log: LogArgs,
    store: StoreArgs<S>,
    args: S::Args,
) -> anyhow::Result<()> {
    let mut echo = Echo::new();
    serve.echo(S::DEFAULT_PORT, &mut echo);
    log.echo(&mut echo);
    S::STORE.echo(S::NAME, &store, &mut echo);
    S::echo(&args, &store, &mut echo);
    echo.log(S::NAME);
    let opened = S::STORE.open(S::NAME, store)?;
    let App { router, ctx, tasks } = S::app(args, opened)?;
    let tasks: Vec<_> = tasks.into_iter().map(tokio::spawn).collect();
    let served = server::serve_with(&serve, S::DEFAULT_PORT, router, &ctx).await;
    // Stopped with the server: what they do is theirs to make safe to interrupt (the
    // key sweeper deletes in batches, each its own statement).
    for task in tasks {
        task.abort();
    }
    served.context("server failed")
}

#[cfg(feature = "mysql")]
pub use mysql::Mysql;

/// The store of the MySQL services.
#[cfg(feature = "mysql")]
mod mysql {
    use super::Store;
    use crate::config::{Echo, mask_url};
    use crate::db::{self, DatabaseArgs};
    use sqlx::MySqlPool;
    use sqlx::migrate::Migrator;
    use std::time::Duration;

    /// A MySQL database named after the service, with its embedded migrations.
    pub struct Mysql(pub &'static Migrator);

    impl Store for Mysql {
        const MIGRATE_ABOUT: &'static str =
            "Create the database if missing, apply pending migrations and exit";
        type Args = DatabaseArgs;
        type Handle = MySqlPool;

        fn echo(&self, service: &str, args: &DatabaseArgs, echo: &mut Echo) {
            args.echo(service, echo);
        }

        async fn migrate(&self, service: &'static str, args: DatabaseArgs) -> anyhow::Result<()> {
            let url = args.url(service);
            db::migrate(&url, self.0, Duration::from_secs(60)).await?;
            tracing::info!(service, database = mask_url(&url), "migrations applied");
            Ok(())
        }

        fn open(&self, service: &'static str, args: DatabaseArgs) -> anyhow::Result<MySqlPool> {
            Ok(db::pool(&args.url(service), args.database_max_connections)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Shop;

    impl Service for Shop {
        const NAME: &'static str = "shop";
        const VERSION: &'static str = "1.2.3";
        const ABOUT: &'static str = "A shop";
        type Store = Stateless;
        const STORE: Stateless = Stateless;
        type Args = NoArgs;

        fn echo(_: &NoArgs, _: &NoArgs, _: &mut Echo) {}

        fn app(_: NoArgs, (): ()) -> anyhow::Result<App> {
            unreachable!("only its command line is read")
        }
    }

    #[test]
    fn help_names_the_service_whatever_path_started_it() {
        let help = command::<Shop>()
            .try_get_matches_from(["/service", "serve", "--help"])
            .unwrap_err()
            .to_string();
        assert!(help.contains("Usage: shop serve"), "{help}");
        let version = command::<Shop>()
            .try_get_matches_from(["/service", "--version"])
            .unwrap_err()
            .to_string();
        assert_eq!(version.trim(), "shop 1.2.3");
    }
}
