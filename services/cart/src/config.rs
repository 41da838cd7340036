//! The cart's configuration, read from the environment: its Redis ([`RedisArgs`],
//! which `migrate` reads too) and the rest of what `serve` reads ([`Config`]).

use std::time::Duration;

use kubestore_common::config::{Echo, IdempotencyKeyTtl, UpstreamArgs, parse_duration, parse_ttl};
use kubestore_common::defaults;
use kubestore_common::runtime::env;

use crate::upstream::Dependencies;

/// The Redis holding the carts.
#[derive(Debug, Clone, clap::Args)]
pub struct RedisArgs {
    /// Redis holding the carts (`REDIS_URL`), e.g. `redis://127.0.0.1:6379/0`.
    #[arg(long, env = env::REDIS_URL, default_value = "redis://127.0.0.1:6379/0")]
    pub redis_url: String,
    /// Time allowed to connect to Redis and for one command (`REDIS_TIMEOUT`).
    #[arg(long, env = env::REDIS_TIMEOUT, default_value = "1s", value_parser = parse_duration)]
    pub redis_timeout: Duration,
}

impl RedisArgs {
    /// Adds `REDIS_URL` (password masked) and `REDIS_TIMEOUT` to the start-up line.
    pub fn echo(&self, echo: &mut Echo) {
        echo.url(env::REDIS_URL, &self.redis_url)
            .duration(env::REDIS_TIMEOUT, self.redis_timeout);
    }
}

/// The `serve` settings of the cart besides its Redis.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Outgoing calls to products and orders.
    #[command(flatten)]
    pub upstream: UpstreamArgs,
    /// The services it calls.
    #[command(flatten)]
    pub deps: Dependencies,
    /// Idle time after which a cart expires (`CART_IDLE_TTL`); every use restarts
    /// it: `7d`, `12h`, `30m`, `90s` or a number of seconds.
    #[arg(long, env = env::CART_IDLE_TTL, default_value = defaults::CART_IDLE_TTL, value_parser = parse_ttl)]
    pub cart_idle_ttl: Duration,
    /// How long a keyed checkout's answer is kept (`IDEMPOTENCY_KEY_TTL`).
    #[command(flatten)]
    pub keys: IdempotencyKeyTtl,
    /// How long a repeat of a checkout that is still running waits for it before
    /// 409 `request_in_progress` (`IDEMPOTENCY_WAIT`): `10s`, `500ms`.
    #[arg(long, env = env::IDEMPOTENCY_WAIT, default_value = defaults::IDEMPOTENCY_WAIT, value_parser = parse_duration)]
    pub idempotency_wait: Duration,
}

impl Config {
    /// Adds the settings to the start-up line, after Redis's (`redis`).
    pub fn echo(&self, redis: &RedisArgs, echo: &mut Echo) {
        self.deps.echo(&self.upstream, echo);
        echo.duration(env::CART_IDLE_TTL, self.cart_idle_ttl);
        self.keys.echo(echo);
        echo.duration(env::IDEMPOTENCY_WAIT, self.idempotency_wait)
            // Derived, not read: shown so an operator can see when a claim lapses.
            .duration(
                "idempotency_lease",
                self.idempotency_lease(redis.redis_timeout),
            );
    }

    /// How long a checkout's claim on its `Idempotency-Key` holds without an
    /// answer: longer than the checkout itself can take (every attempt at
    /// creating the order, and the `redis_timeout` Redis steps around them), so that
    /// only a claim whose process died ever lapses.
    pub fn idempotency_lease(&self, redis_timeout: Duration) -> Duration {
        let attempts = self.upstream.upstream_retries + 1;
        self.deps.checkout_timeout * attempts + redis_timeout * 4 + LEASE_MARGIN
    }
}

/// Added to the longest a checkout can take, for backoff and scheduling.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
