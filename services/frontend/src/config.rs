//! The frontend's configuration, read from the environment.

use kubestore_common::config::{Echo, UpstreamArgs};
use kubestore_common::runtime::env;

use crate::upstream::Dependencies;

/// The `serve` settings of the frontend.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Calls to the backends.
    #[command(flatten)]
    pub upstream: UpstreamArgs,
    /// The backends it calls.
    #[command(flatten)]
    pub deps: Dependencies,
    /// Mark cookies `Secure` (`COOKIE_SECURE`): set it when the shop is served
    /// over HTTPS, as behind the mesh's gateway.
    #[arg(long, env = env::COOKIE_SECURE, default_value_t = false,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub cookie_secure: bool,
}

impl Config {
    /// Adds the settings to the start-up line.
    pub fn echo(&self, echo: &mut Echo) {
        self.deps.echo(&self.upstream, echo);
        echo.value(env::COOKIE_SECURE, self.cookie_secure);
    }
}
