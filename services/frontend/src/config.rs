//! The frontend's configuration, read from the environment.

use kubestore_common::config::{Echo, LogArgs, ServeArgs, UpstreamArgs};

use crate::upstream::Dependencies;

/// Default port of the frontend: the catalogue's.
pub const DEFAULT_PORT: u16 = kubestore_common::catalog::port(crate::SERVICE);

/// Settings of the frontend.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Listening and draining.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
    /// Calls to the backends.
    #[command(flatten)]
    pub upstream: UpstreamArgs,
    /// The backends it calls.
    #[command(flatten)]
    pub deps: Dependencies,
    /// Mark cookies `Secure` (`COOKIE_SECURE`): set it when the shop is served
    /// over HTTPS, as behind the mesh's gateway.
    #[arg(long, env = "COOKIE_SECURE", default_value_t = false,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub cookie_secure: bool,
}

impl Config {
    /// Logs the configuration in force, with secrets masked.
    pub fn print(&self) {
        let mut echo = Echo::new();
        self.serve.echo(DEFAULT_PORT, &mut echo);
        self.log.echo(&mut echo);
        self.deps.echo(&self.upstream, &mut echo);
        echo.value("COOKIE_SECURE", self.cookie_secure);
        echo.log(crate::SERVICE);
    }
}
