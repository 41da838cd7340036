//! The frontend's configuration, read from the environment.

use kubestore_common::config::{Echo, LogArgs, ServeArgs, UpstreamArgs, local_url, parse_base_url};

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
    /// Base URL of the products service (`PRODUCTS_URL`).
    #[arg(long, env = "PRODUCTS_URL", default_value_t = local_url("products"), value_parser = parse_base_url)]
    pub products_url: String,
    /// Base URL of the cart service (`CART_URL`).
    #[arg(long, env = "CART_URL", default_value_t = local_url("cart"), value_parser = parse_base_url)]
    pub cart_url: String,
    /// Base URL of the orders service (`ORDERS_URL`).
    #[arg(long, env = "ORDERS_URL", default_value_t = local_url("orders"), value_parser = parse_base_url)]
    pub orders_url: String,
    /// Base URL of the users service (`USERS_URL`).
    #[arg(long, env = "USERS_URL", default_value_t = local_url("users"), value_parser = parse_base_url)]
    pub users_url: String,
    /// Time allowed for the cart to check out (`CHECKOUT_TIMEOUT`): it calls
    /// orders, which calls users and products, so it needs longer than
    /// `UPSTREAM_TIMEOUT`; keep it above the cart's own `CHECKOUT_TIMEOUT`
    /// so the cart answers (503 or not) before the frontend gives up.
    #[arg(long, env = "CHECKOUT_TIMEOUT", default_value = "15s",
          value_parser = kubestore_common::config::parse_duration)]
    pub checkout_timeout: std::time::Duration,
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
        echo.url("PRODUCTS_URL", &self.products_url)
            .url("CART_URL", &self.cart_url)
            .url("ORDERS_URL", &self.orders_url)
            .url("USERS_URL", &self.users_url);
        self.upstream.echo(&mut echo);
        echo.duration("CHECKOUT_TIMEOUT", self.checkout_timeout)
            .value("COOKIE_SECURE", self.cookie_secure);
        echo.log(crate::SERVICE);
    }
}
