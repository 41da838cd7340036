//! A service's resilience settings as Istio takes them: route timeout, retries (which
//! must fit in the timeout, on conditions Envoy knows), circuit breaker and connection
//! pool.

use super::services::ServiceLayers;
use crate::defaults;
use crate::model::check::{Check, Checked};
use crate::model::service::{Resilience, Retries};
use crate::model::units::{Duration, Percent};
use crate::spec::ServiceSpec;

pub(super) fn resilience(c: &mut Check, layers: &ServiceLayers) -> Checked<Resilience> {
    fn r(s: &ServiceSpec) -> Option<&crate::spec::ResilienceSpec> {
        s.resilience.as_ref()
    }
    fn cb(s: &ServiceSpec) -> Option<&crate::spec::CircuitBreakerSpec> {
        r(s)?.circuit_breaker.as_ref()
    }
    fn pool(s: &ServiceSpec) -> Option<&crate::spec::ConnectionPoolSpec> {
        r(s)?.connection_pool.as_ref()
    }
    let timeout = layers.must(c, "resilience.timeout", |s| r(s)?.timeout.as_ref())?;
    let timeout_key = timeout.1.clone();
    let timeout = positive(c, &timeout);
    let (attempts, attempts_key) = layers.must(c, "resilience.retries.attempts", |s| {
        r(s)?.retries.as_ref()?.attempts.as_ref()
    })?;
    let per_try = layers.must(c, "resilience.retries.per_try_timeout", |s| {
        r(s)?.retries.as_ref()?.per_try_timeout.as_ref()
    })?;
    let per_try_key = per_try.1.clone();
    let per_try = positive(c, &per_try);
    let (retry_on, retry_on_key) = layers.must(c, "resilience.retries.retry_on", |s| {
        r(s)?.retries.as_ref()?.retry_on.as_ref()
    })?;
    if let Some(problem) = retry_on_problem(&retry_on) {
        c.error(&retry_on_key, problem);
    }
    if attempts > 10 {
        c.error(
            &attempts_key,
            "must be at most 10: every retry multiplies the load on a struggling service",
        );
    }
    if let (Ok(timeout), Ok(per_try)) = (timeout, per_try)
        && attempts > 0
    {
        // `attempts` counts retries: the first try comes on top.
        let total = per_try.millis().saturating_mul(u64::from(attempts) + 1);
        if total > timeout.millis() {
            // Blame the most specific of the three values the file sets (a service's own
            // before `defaults`, before the built-in defaults, which have no line), so the
            // error points at what the user wrote; on a tie, the per-try timeout.
            let rank = |key: &String| {
                if key.starts_with("services.") {
                    2
                } else if key.starts_with("defaults.") {
                    1
                } else {
                    0
                }
            };
            let key = [&per_try_key, &attempts_key, &timeout_key]
                .into_iter()
                .rev()
                .max_by_key(|k| rank(k))
                .cloned()
                .unwrap_or_else(|| per_try_key.clone());
            c.error(
                &key,
                format!(
                    "the first try and {attempts} retries of {per_try} each ({}) do not fit in \
                     the route timeout of {timeout}",
                    Duration::from_millis(total)
                ),
            );
        }
    }
    let (consecutive_5xx, key_5xx) =
        layers.must(c, "resilience.circuit_breaker.consecutive_5xx", |s| {
            cb(s)?.consecutive_5xx.as_ref()
        })?;
    if consecutive_5xx == 0 {
        c.error(&key_5xx, "must be at least 1");
    }
    let interval = layers.must(c, "resilience.circuit_breaker.interval", |s| {
        cb(s)?.interval.as_ref()
    })?;
    let interval = positive(c, &interval);
    let ejection = layers.must(c, "resilience.circuit_breaker.ejection", |s| {
        cb(s)?.ejection.as_ref()
    })?;
    let ejection = positive(c, &ejection);
    let max_ejected = layers.must(c, "resilience.circuit_breaker.max_ejected", |s| {
        cb(s)?.max_ejected.as_ref()
    })?;
    let max_ejected = c.parse(&max_ejected, Percent::parse).and_then(|p| {
        if p.is_whole() {
            Ok(p)
        } else {
            Err(c.error(
                &max_ejected.1,
                format!("{p} is not a whole percentage: Istio takes whole percents"),
            ))
        }
    });
    let (max_connections, key_conn) =
        layers.must(c, "resilience.connection_pool.max_connections", |s| {
            pool(s)?.max_connections.as_ref()
        })?;
    let (max_pending, key_pending) =
        layers.must(c, "resilience.connection_pool.max_pending", |s| {
            pool(s)?.max_pending.as_ref()
        })?;
    let (max_requests_per_connection, _) = layers.must(
        c,
        "resilience.connection_pool.max_requests_per_connection",
        |s| pool(s)?.max_requests_per_connection.as_ref(),
    )?;
    if max_connections == 0 {
        c.error(&key_conn, "must be at least 1");
    }
    if max_pending == 0 {
        c.error(&key_pending, "must be at least 1");
    }
    Ok(Resilience {
        timeout: timeout?,
        retries: Retries {
            attempts,
            per_try_timeout: per_try?,
            retry_on,
        },
        consecutive_5xx,
        interval: interval?,
        ejection: ejection?,
        max_ejected: max_ejected?,
        max_connections,
        max_pending,
        max_requests_per_connection,
    })
}

/// A duration Istio accepts: at least 1ms (durations here are whole milliseconds).
pub(super) fn positive(c: &mut Check, value: &(String, String)) -> Checked<Duration> {
    let duration = c.parse(value, Duration::parse)?;
    if duration.millis() == 0 {
        return Err(c.error(
            &value.1,
            "must be above 0: Istio refuses durations under 1ms",
        ));
    }
    Ok(duration)
}

/// Retry conditions Istio accepts in `retryOn`: Envoy's HTTP and gRPC conditions, or an
/// HTTP status code.
const RETRY_CONDITIONS: [&str; 16] = [
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

fn retry_on_problem(retry_on: &str) -> Option<String> {
    if retry_on.is_empty() {
        return Some(format!(
            "must name at least one condition, e.g. `{}`",
            defaults::RETRY_ON
        ));
    }
    for condition in retry_on.split(',') {
        let status = condition
            .parse::<u16>()
            .is_ok_and(|code| (100..=599).contains(&code));
        if condition.trim() != condition {
            return Some(format!(
                "`{condition}` has a space: conditions are separated by ',' alone, e.g. `{}`",
                defaults::RETRY_ON
            ));
        }
        if !status && !RETRY_CONDITIONS.contains(&condition) {
            let hint = match crate::spec::did_you_mean(condition, &RETRY_CONDITIONS) {
                Some(best) => format!(", did you mean `{best}`?"),
                None => format!(
                    ": expected {}, or an HTTP status code",
                    RETRY_CONDITIONS.join(", ")
                ),
            };
            return Some(format!(
                "`{condition}` is not a retry condition Istio knows{hint}"
            ));
        }
    }
    None
}
