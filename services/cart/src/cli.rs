//! Command line: `cart migrate` and `cart serve`, configured from the environment
//! ([`Config`]); the shared part lives in [`kubestore_common::service`].

use anyhow::Context;
use kubestore_common::config::LogArgs;
use kubestore_common::server;
use kubestore_common::service::{self, Service, Settings};
use std::process::ExitCode;

use crate::config::{Config, DEFAULT_PORT};
use crate::{AppState, SERVICE};

/// What the shared command line needs to know about the cart.
struct Cart;

impl Service for Cart {
    const NAME: &'static str = SERVICE;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
    const MIGRATE_ABOUT: &'static str =
        "Checks that Redis answers and exits; Redis has no schema to migrate";
    const SERVE_ABOUT: &'static str = "Serves the HTTP API";
    type Migrate = Config;
    type Serve = Config;

    async fn migrate(config: Config) -> anyhow::Result<()> {
        config.print();
        let state = AppState::from_config(&config)?;
        // Nothing to migrate in Redis; checking the connection makes a
        // misconfigured REDIS_URL fail the deployment's migrate step.
        state
            .store
            .ping()
            .await
            .context("cannot reach Redis at REDIS_URL")?;
        tracing::info!(service = SERVICE, "redis answers; nothing to migrate");
        Ok(())
    }

    async fn serve(config: Config) -> anyhow::Result<()> {
        config.print();
        let state = AppState::from_config(&config)?;
        let (router, ctx) = crate::service(state);
        server::serve_with(&config.serve, DEFAULT_PORT, router, &ctx).await?;
        Ok(())
    }

    fn log_failure(e: &anyhow::Error) {
        tracing::error!(error = format!("{e:#}"), "{SERVICE} failed");
    }
}

impl Settings for Config {
    fn log(&self) -> Option<&LogArgs> {
        Some(&self.log)
    }
}

/// Parses the command line and environment, runs, and maps the outcome to an exit
/// code (see [`service::main`]).
pub fn main() -> ExitCode {
    service::main::<Cart>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_reads_the_urls_of_what_the_catalogue_says_it_calls() {
        assert_eq!(
            service::catalogue_differences::<Cart>(),
            Vec::<String>::new()
        );
    }
}
