//! The cart's configuration, read from the environment.

use std::time::Duration;

use kubestore_common::config::{Echo, IdempotencyKeyTtl, LogArgs, ServeArgs, UpstreamArgs};

use crate::upstream::Dependencies;

/// Default port of the cart service: the catalogue's.
pub const DEFAULT_PORT: u16 = kubestore_common::catalog::port(crate::SERVICE);

/// Settings of the cart service.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Listening and draining.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
    /// Outgoing calls to products and orders.
    #[command(flatten)]
    pub upstream: UpstreamArgs,
    /// Redis holding the carts (`REDIS_URL`), e.g. `redis://127.0.0.1:6379/0`.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379/0")]
    pub redis_url: String,
    /// Time allowed to connect to Redis and for one command (`REDIS_TIMEOUT`).
    #[arg(long, env = "REDIS_TIMEOUT", default_value = "1s",
          value_parser = kubestore_common::config::parse_duration)]
    pub redis_timeout: Duration,
    /// The services it calls.
    #[command(flatten)]
    pub deps: Dependencies,
    /// Idle time after which a cart expires (`CART_IDLE_TTL`); every use restarts
    /// it: `7d`, `12h`, `30m`, `90s` or a number of seconds.
    #[arg(long, env = "CART_IDLE_TTL", default_value = "7d", value_parser = kubestore_common::config::parse_ttl)]
    pub cart_idle_ttl: Duration,
    /// How long a keyed checkout's answer is kept (`IDEMPOTENCY_KEY_TTL`).
    #[command(flatten)]
    pub keys: IdempotencyKeyTtl,
    /// How long a repeat of a checkout that is still running waits for it before
    /// 409 `request_in_progress` (`IDEMPOTENCY_WAIT`): `10s`, `500ms`.
    #[arg(long, env = "IDEMPOTENCY_WAIT", default_value = "10s",
          value_parser = kubestore_common::config::parse_duration)]
    pub idempotency_wait: Duration,
}

impl Config {
    /// Logs the configuration in force, with secrets masked.
    pub fn print(&self) {
        let mut echo = Echo::new();
        self.serve.echo(DEFAULT_PORT, &mut echo);
        self.log.echo(&mut echo);
        echo.url("REDIS_URL", &self.redis_url)
            .duration("REDIS_TIMEOUT", self.redis_timeout);
        self.deps.echo(&self.upstream, &mut echo);
        echo.duration("CART_IDLE_TTL", self.cart_idle_ttl);
        self.keys.echo(&mut echo);
        echo.duration("IDEMPOTENCY_WAIT", self.idempotency_wait)
            // Derived, not read: shown so an operator can see when a claim lapses.
            .duration("idempotency_lease", self.idempotency_lease());
        echo.log(crate::SERVICE);
    }
}

impl Config {
    /// How long a checkout's claim on its `Idempotency-Key` holds without an
    /// answer: longer than the checkout itself can take (every attempt at
    /// creating the order, and the Redis steps around them), so that only a
    /// claim whose process died ever lapses.
    pub fn idempotency_lease(&self) -> Duration {
        let attempts = self.upstream.upstream_retries + 1;
        self.deps.checkout_timeout * attempts + self.redis_timeout * 4 + LEASE_MARGIN
    }
}

/// Added to the longest a checkout can take, for backoff and scheduling.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
