//! Command line: `frontend migrate` and `frontend serve`, configured from the
//! environment ([`Config`]); the shared part lives in [`kubestore_common::service`].

use kubestore_common::config::LogArgs;
use kubestore_common::server;
use kubestore_common::service::{self, NoArgs, Service, Settings};
use std::process::ExitCode;

use crate::config::{Config, DEFAULT_PORT};
use crate::{AppState, SERVICE};

/// What the shared command line needs to know about the frontend.
struct Frontend;

impl Service for Frontend {
    const NAME: &'static str = SERVICE;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
    const MIGRATE_ABOUT: &'static str = "Does nothing and exits 0: the frontend keeps no state \
        of its own. It exists so every service can be deployed the same way";
    const SERVE_ABOUT: &'static str = "Serves the pages";
    type Migrate = NoArgs;
    type Serve = Config;

    async fn migrate(_: NoArgs) -> anyhow::Result<()> {
        println!("frontend: nothing to migrate");
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
    service::main::<Frontend>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_reads_the_urls_of_what_the_catalogue_says_it_calls() {
        assert_eq!(
            service::catalogue_differences::<Frontend>(),
            Vec::<String>::new()
        );
    }
}
