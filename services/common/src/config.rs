//! Configuration shared by every service, read from the environment with clap
//! (`#[arg(long, env)]`), so a malformed variable stops the process at start-up
//! with clap's clear message instead of surfacing later.
//!
//! Flatten [`ServeArgs`], [`LogArgs`] and, for services that call others,
//! [`UpstreamArgs`] into the service's own clap struct, then log what is in force
//! with an [`Echo`]: each shared struct echoes its own variables, and `Echo` is the
//! one place that says how a value is shown (durations as `2s` or `500ms`, which the
//! variables accept back; URLs with their password masked by [`mask_url`]).

use kubestore_core::defaults;
use kubestore_core::runtime::env;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// How a service listens and drains.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (`LISTEN_ADDR`); `0.0.0.0:<default port>` when unset.
    #[arg(long, env = env::LISTEN_ADDR)]
    pub listen_addr: Option<SocketAddr>,
    /// How long to keep serving after SIGTERM before finishing in-flight requests and
    /// exiting (`DRAIN_SECONDS`): seconds (`5`, `0.5`) or a duration (`500ms`, `2s`).
    #[arg(long, env = env::DRAIN_SECONDS, default_value = defaults::DRAIN, value_parser = parse_duration)]
    pub drain_seconds: Duration,
}

impl ServeArgs {
    /// The listen address, defaulting to all interfaces on `default_port`.
    pub fn listen_addr(&self, default_port: u16) -> SocketAddr {
        self.listen_addr
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::UNSPECIFIED, default_port)))
    }

    /// Adds `LISTEN_ADDR` and `DRAIN_SECONDS` to the start-up line.
    pub fn echo(&self, default_port: u16, echo: &mut Echo) {
        echo.value(env::LISTEN_ADDR, self.listen_addr(default_port))
            .duration(env::DRAIN_SECONDS, self.drain_seconds);
    }
}

impl LogArgs {
    /// Adds `RUST_LOG` to the start-up line.
    pub fn echo(&self, echo: &mut Echo) {
        echo.value(env::RUST_LOG, &self.rust_log);
    }
}

/// Logging.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log filter in `tracing` syntax (`RUST_LOG`), e.g. `info` or `info,sqlx=warn`.
    #[arg(long, env = env::RUST_LOG, default_value = defaults::LOG_LEVEL)]
    pub rust_log: String,
}

/// Checks a base URL of another service (a clap `value_parser` for `*_URL`
/// variables): `http://` or `https://` and a host; a trailing `/` is dropped.
pub fn parse_base_url(raw: &str) -> Result<String, String> {
    let rest = raw
        .strip_prefix("http://")
        .or_else(|| raw.strip_prefix("https://"))
        .ok_or_else(|| format!("`{raw}` must start with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("`{raw}` has no host"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// The base URL of the catalogue service `name` on this machine: the default of the
/// `<NAME>_URL` variable of its callers, so that its port is written only in the
/// catalogue. Panics on a name the catalogue does not know.
pub fn local_url(name: &str) -> String {
    format!("http://127.0.0.1:{}", crate::catalog::port(name))
}

/// Outgoing calls to other services.
#[derive(Debug, Clone, clap::Args)]
pub struct UpstreamArgs {
    /// Timeout of every outgoing call, per attempt (`UPSTREAM_TIMEOUT`): `2s`, `500ms`.
    #[arg(long, env = env::UPSTREAM_TIMEOUT, default_value = defaults::ROUTE_TIMEOUT, value_parser = parse_duration)]
    pub upstream_timeout: Duration,
    /// Extra attempts for idempotent outgoing calls (`UPSTREAM_RETRIES`); 0 turns
    /// application retries off, for meshes that retry themselves.
    #[arg(long, env = env::UPSTREAM_RETRIES, default_value_t = defaults::RETRY_ATTEMPTS,
          value_parser = clap::value_parser!(u32).range(0..=10))]
    pub upstream_retries: u32,
}

impl UpstreamArgs {
    /// Adds `UPSTREAM_TIMEOUT` and `UPSTREAM_RETRIES` to the start-up line.
    pub fn echo(&self, echo: &mut Echo) {
        echo.duration(env::UPSTREAM_TIMEOUT, self.upstream_timeout)
            .value(env::UPSTREAM_RETRIES, self.upstream_retries);
    }
}

impl Default for UpstreamArgs {
    fn default() -> Self {
        Self {
            upstream_timeout: Duration::from_secs(2),
            upstream_retries: 2,
        }
    }
}

/// Parses `500ms`, `2s`, `1.5s`, `1m` or a bare number of seconds (`5`, `0.5`).
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{raw}` is not a duration (examples: 500ms, 2s, 5)"))?;
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("`{raw}` must be between 0 and 24 hours"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a time to live: a whole number followed by `s`, `m`, `h` or `d`, or a
/// bare number of seconds; from 1 second to 365 days. Redis TTLs are whole
/// seconds, hence no fractions; the MySQL services take the same values so that one
/// variable means the same everywhere.
pub fn parse_ttl(raw: &str) -> Result<Duration, String> {
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

/// How long a service that stores `Idempotency-Key` answers keeps them: the same
/// variable, values and default in every such service.
#[derive(Debug, Clone, clap::Args)]
pub struct IdempotencyKeyTtl {
    /// How long the answer of a request sent with an `Idempotency-Key` is kept for
    /// repeats of it (`IDEMPOTENCY_KEY_TTL`): `24h`, `30m`, `90s` or seconds.
    #[arg(long, env = env::IDEMPOTENCY_KEY_TTL,
          default_value = kubestore_core::defaults::IDEMPOTENCY_KEY_TTL, value_parser = parse_ttl)]
    pub idempotency_key_ttl: Duration,
}

impl IdempotencyKeyTtl {
    /// Adds `IDEMPOTENCY_KEY_TTL` to the start-up line.
    pub fn echo(&self, echo: &mut Echo) {
        echo.duration(env::IDEMPOTENCY_KEY_TTL, self.idempotency_key_ttl);
    }
}

/// Replaces the password of a URL (`mysql://u:secret@h/db`) with `****`.
pub fn mask_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let masked = match userinfo.find(':') {
        Some(colon) => format!("{}:****", &userinfo[..colon]),
        // redis://secret@host: a lone userinfo is the password.
        None if url.starts_with("redis") => "****".to_owned(),
        None => userinfo.to_owned(),
    };
    format!("{}{}@{}", &url[..scheme_end + 3], masked, &rest[at + 1..])
}

/// The effective configuration, logged at start-up as one structured line, in the
/// order the settings were added.
#[derive(Debug, Default)]
pub struct Echo {
    entries: Vec<(&'static str, String)>,
}

impl Echo {
    /// An empty line.
    pub fn new() -> Self {
        Self::default()
    }

    /// A setting shown as it displays.
    pub fn value(&mut self, name: &'static str, value: impl std::fmt::Display) -> &mut Self {
        self.entries.push((name, value.to_string()));
        self
    }

    /// A duration, shown by [`format_duration`].
    pub fn duration(&mut self, name: &'static str, value: Duration) -> &mut Self {
        self.value(name, format_duration(value))
    }

    /// A URL, its password masked.
    pub fn url(&mut self, name: &'static str, url: &str) -> &mut Self {
        self.value(name, mask_url(url))
    }

    /// What has been added, in order.
    pub fn entries(&self) -> &[(&'static str, String)] {
        &self.entries
    }

    /// Logs the line for `service`.
    pub fn log(&self, service: &str) {
        let config: serde_json::Map<String, serde_json::Value> = self
            .entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
            .collect();
        tracing::info!(
            service,
            version = env!("CARGO_PKG_VERSION"),
            config = %serde_json::Value::Object(config),
            "effective configuration"
        );
    }
}

/// A duration as the variables accept it back: whole seconds as `5s`, whole
/// milliseconds as `500ms`, anything finer as decimal seconds (`0.0015s`).
pub fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos() % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            parse_base_url("http://products:8082/").unwrap(),
            "http://products:8082"
        );
        assert_eq!(parse_base_url("https://x").unwrap(), "https://x");
        assert!(parse_base_url("products:8082").is_err());
        assert!(parse_base_url("ftp://orders").is_err());
        assert!(parse_base_url("http://").is_err());
        assert!(parse_base_url("http:///path").is_err());
    }

    #[test]
    fn local_urls_are_valid_base_urls() {
        for name in crate::catalog::names() {
            let url = local_url(name);
            assert_eq!(parse_base_url(&url).unwrap(), url);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        for bad in ["", "abc", "-1s", "2h", "1e10"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_ttl("12h").unwrap(), Duration::from_secs(43_200));
        assert_eq!(parse_ttl("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_ttl("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("90").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_ttl(kubestore_core::defaults::IDEMPOTENCY_KEY_TTL).unwrap(),
            Duration::from_secs(86_400)
        );
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
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_echo_as_they_are_written() {
        let serve = ServeArgs {
            listen_addr: None,
            drain_seconds: parse_duration("5").unwrap(),
        };
        let mut echo = Echo::new();
        serve.echo(8080, &mut echo);
        UpstreamArgs::default().echo(&mut echo);
        echo.duration("HALF", Duration::from_millis(1500))
            .url("DATABASE_URL", "mysql://root:pw@db/users");
        let shown: Vec<(&str, &str)> = echo
            .entries()
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("LISTEN_ADDR", "0.0.0.0:8080"),
                ("DRAIN_SECONDS", "5s"),
                ("UPSTREAM_TIMEOUT", "2s"),
                ("UPSTREAM_RETRIES", "2"),
                ("HALF", "1500ms"),
                ("DATABASE_URL", "mysql://root:****@db/users"),
            ]
        );
        for (_, shown) in &echo.entries()[1..3] {
            assert!(parse_duration(shown).is_ok(), "{shown}");
        }
        // Finer than a millisecond: still a value the variables take back.
        let fine = Duration::from_micros(1500);
        assert_eq!(format_duration(fine), "0.0015s");
        assert_eq!(parse_duration(&format_duration(fine)), Ok(fine));
    }

    #[test]
    fn masks_passwords() {
        assert_eq!(
            mask_url("mysql://root:hunter2@db:3306/users"),
            "mysql://root:****@db:3306/users"
        );
        assert_eq!(
            mask_url("mysql://root@127.0.0.1:3306/users"),
            "mysql://root@127.0.0.1:3306/users"
        );
        assert_eq!(
            mask_url("redis://:pw@127.0.0.1:6379/0"),
            "redis://:****@127.0.0.1:6379/0"
        );
        assert_eq!(mask_url("redis://pw@r:6379"), "redis://****@r:6379");
        assert_eq!(mask_url("http://users:8081"), "http://users:8081");
    }
}
