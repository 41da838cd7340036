//! Command line: `frontend migrate` and `frontend serve`, configured from the
//! environment (see [`kubestore_common::service`], which runs both); the frontend
//! keeps no state, so its `migrate` does nothing.

use kubestore_common::config::Echo;
use kubestore_common::service::{self, App, NoArgs, Service, Stateless};
use std::process::ExitCode;

use crate::config::Config;
use crate::{AppState, SERVICE};

/// The frontend, as the shared command line runs it.
pub struct Frontend;

impl Service for Frontend {
    const NAME: &'static str = SERVICE;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
    const SERVE_ABOUT: &'static str = "Serves the pages";
    type Store = Stateless;
    const STORE: Stateless = Stateless;
    type Args = Config;

    fn echo(config: &Config, _: &NoArgs, echo: &mut Echo) {
        config.echo(echo);
    }

    fn app(config: Config, (): ()) -> anyhow::Result<App> {
        Ok(crate::service(AppState::from_config(&config)?).into())
    }
}

/// Runs the command line (see [`service::main`]).
pub fn main() -> ExitCode {
    service::main::<Frontend>()
}
