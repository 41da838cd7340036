//! The command handlers behind the command line: each reads the environments folder
//! once, then does its one job; progress and reports go to stdout and stderr.

mod envoy;
mod explain;
mod render;
mod validate;

use kubestore_core::model::Environment;

use crate::cli::{Cli, Command};
use crate::environments::Environments;
use crate::error::Error;

pub use envoy::write_envoy_configs;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    let environments = Environments::read(&cli.environments)?;
    match cli.command {
        Command::Render(args) => render::render(&environments, &args),
        Command::Validate(selection) => validate::validate(&environments, &selection),
        Command::Explain(args) => explain::explain(&environments, &args),
        Command::Envoy(args) => envoy::envoy(&environments, &args),
    }
}

/// Warnings go to stderr, so they never mix with a JSON report on stdout.
fn print_warnings(env: &Environment) {
    for warning in env.warnings() {
        eprintln!("warning: {warning}");
    }
}
