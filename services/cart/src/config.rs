//! The cart's configuration, read from the environment.

use std::time::Duration;

use kubestore_common::config::{Echo, LogArgs, ServeArgs, UpstreamArgs};

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
    #[arg(long, env = "CART_IDLE_TTL", default_value = "7d", value_parser = parse_idle_ttl)]
    pub cart_idle_ttl: Duration,
    /// How long the answer of a checkout sent with an `Idempotency-Key` is kept
    /// for repeats of it (`IDEMPOTENCY_KEY_TTL`): `24h`, `30m`, `90s` or seconds.
    #[arg(long, env = "IDEMPOTENCY_KEY_TTL", default_value = "24h", value_parser = parse_idle_ttl)]
    pub idempotency_key_ttl: Duration,
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
        echo.duration("CART_IDLE_TTL", self.cart_idle_ttl)
            .duration("IDEMPOTENCY_KEY_TTL", self.idempotency_key_ttl)
            .duration("IDEMPOTENCY_WAIT", self.idempotency_wait)
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

/// Parses an idle time: a whole number followed by `s`, `m`, `h` or `d`, or a
/// bare number of seconds; from 1 second to 365 days. Redis TTLs are whole
/// seconds, hence no fractions.
pub fn parse_idle_ttl(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    let (number, unit) = match s.char_indices().last() {
        Some((i, c @ ('s' | 'm' | 'h' | 'd'))) => (&s[..i], c),
        _ => (s, 's'),
    };
    let bad = || format!("`{raw}` is not a duration (examples: 7d, 12h, 30m, 90s)");
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let value: u64 = number.parse().map_err(|_| bad())?;
    let scale = match unit {
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => 1,
    };
    let secs = value
        .checked_mul(scale)
        .filter(|secs| (1..=365 * 86_400).contains(secs))
        .ok_or_else(|| format!("`{raw}` must be between 1 second and 365 days"))?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_ttls() {
        assert_eq!(parse_idle_ttl("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_idle_ttl("12h").unwrap(), Duration::from_secs(43_200));
        assert_eq!(parse_idle_ttl("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_idle_ttl("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_idle_ttl("90").unwrap(), Duration::from_secs(90));
        for bad in [
            "",
            "d",
            "0",
            "0s",
            "1.5h",
            "-1d",
            "366d",
            "7w",
            "99999999999999999999d",
        ] {
            assert!(parse_idle_ttl(bad).is_err(), "{bad}");
        }
    }
}
