//! The names and PromQL of every SLI: the raw metrics an SLO is computed from, the
//! series the recording rules write, their labels, the error-ratio and request-rate
//! expressions and the alert names. The generator's rules, OpenSLO documents and
//! dashboards are built from these, and so is what `slo-check` asks Prometheus, so a
//! rule and the check that reads it cannot spell a name two ways.

use std::collections::BTreeMap;

use crate::metrics;
use crate::model::slo::{ServiceSlos, SliSource, Slo, SloKind, decimal};
use crate::model::{Duration, Environment};

/// Name of the series holding an SLI's error ratio over `range`.
pub fn error_ratio_series(range: Duration) -> String {
    format!("slo:sli_error:ratio_rate{range}")
}

/// Name of the series holding an SLI's request rate over `range`.
pub fn requests_series(range: Duration) -> String {
    format!("slo:sli_requests:rate{range}")
}

/// Objective as a ratio.
pub const OBJECTIVE_SERIES: &str = "slo:objective:ratio";
/// Error budget as a ratio (1 - objective).
pub const BUDGET_SERIES: &str = "slo:error_budget:ratio";
/// Share of the error budget left over the SLO window (negative once overspent).
pub const BUDGET_REMAINING_SERIES: &str = "slo:error_budget_remaining:ratio";

/// The labels of every series recorded for one SLO.
pub fn slo_labels(env: &Environment, service: &ServiceSlos, slo: &Slo) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("environment".to_owned(), env.name.clone()),
        ("service".to_owned(), service.name().to_owned()),
        ("slo".to_owned(), slo.kind.as_str().to_owned()),
    ])
}

/// `name{a="1",b="2"}`, labels in order.
pub fn selector(name: &str, labels: &BTreeMap<String, String>) -> String {
    let matchers: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", matchers.join(","))
}

/// The raw metrics an SLI is computed from.
pub struct SliMetrics {
    /// Counter of all requests (or the histogram's `_count`).
    pub total: String,
    /// Selector of the bad requests (availability) or of the good ones below the
    /// threshold (latency: the `le` bucket).
    pub subset: String,
    /// Label matchers of the service, without braces, for dashboards to extend.
    pub matchers: String,
}

/// The metric selectors of one SLO's SLI.
pub fn sli_metrics(env: &Environment, service: &ServiceSlos, slo: &Slo) -> SliMetrics {
    sli_metrics_where(env, service, slo, None)
}

/// The metric selectors of one SLO's SLI, narrowed by one more `label="value"` matcher
/// (the pods of one version, for a canary's analysis).
pub fn sli_metrics_where(
    env: &Environment,
    service: &ServiceSlos,
    slo: &Slo,
    extra: Option<(&str, &str)>,
) -> SliMetrics {
    let name = service.name();
    let ns = &env.namespace;
    let (mut matchers, requests, bad_status, histogram) = match service.source {
        SliSource::App => (
            format!("namespace=\"{ns}\",service=\"{name}\""),
            metrics::REQUESTS_TOTAL,
            "status=~\"5..\"",
            metrics::REQUEST_DURATION,
        ),
        SliSource::Mesh => (
            format!(
                "destination_workload=\"{name}\",destination_workload_namespace=\"{ns}\",\
                 reporter=\"destination\""
            ),
            metrics::MESH_REQUESTS_TOTAL,
            "response_code=~\"5..\"",
            metrics::MESH_REQUEST_DURATION,
        ),
    };
    if let Some((label, value)) = extra {
        matchers.push_str(&format!(",{label}=\"{value}\""));
    }
    match (slo.kind, slo.threshold) {
        (SloKind::Latency, Some(threshold)) => SliMetrics {
            total: format!("{histogram}_count{{{matchers}}}"),
            subset: format!(
                "{histogram}_bucket{{{matchers},le=\"{}\"}}",
                le(service.source, threshold)
            ),
            matchers,
        },
        _ => SliMetrics {
            total: format!("{requests}{{{matchers}}}"),
            subset: format!("{requests}{{{matchers},{bad_status}}}"),
            matchers,
        },
    }
}

/// The `le` label of the bucket bounded by `threshold`, spelled as each exporter spells
/// it: Envoy prints milliseconds as integers (`250`); the services' prometheus-client
/// prints seconds as Rust floats, which keep a `.0` on whole numbers (`0.25`, `1.0`).
pub fn le(source: SliSource, threshold: Duration) -> String {
    let ms = u128::from(threshold.millis());
    match source {
        SliSource::Mesh => ms.to_string(),
        SliSource::App => {
            let seconds = decimal(ms, 1000);
            if seconds.contains('.') {
                seconds
            } else {
                format!("{seconds}.0")
            }
        }
    }
}

/// PromQL of an SLO's error ratio over `range`.
pub fn error_ratio_expr(
    env: &Environment,
    service: &ServiceSlos,
    slo: &Slo,
    range: &str,
) -> String {
    error_ratio_expr_where(env, service, slo, range, None)
}

/// [`error_ratio_expr`] over the series that also carry `extra` (one version's pods).
pub fn error_ratio_expr_where(
    env: &Environment,
    service: &ServiceSlos,
    slo: &Slo,
    range: &str,
    extra: Option<(&str, &str)>,
) -> String {
    let m = sli_metrics_where(env, service, slo, extra);
    match slo.kind {
        // No 5xx yet means no 5xx series at all: `or vector(0)` keeps the ratio at 0
        // instead of absent, so "absent" keeps meaning "no traffic data".
        SloKind::Availability => format!(
            "(sum(rate({}[{range}])) or vector(0)) / sum(rate({}[{range}]))",
            m.subset, m.total
        ),
        SloKind::Latency => format!(
            "1 - (sum(rate({}[{range}])) / sum(rate({}[{range}])))",
            m.subset, m.total
        ),
    }
}

/// PromQL of an SLO's request rate over `range`.
pub fn requests_expr(env: &Environment, service: &ServiceSlos, slo: &Slo, range: &str) -> String {
    format!(
        "sum(rate({}[{range}]))",
        sli_metrics(env, service, slo).total
    )
}

/// `OrdersAvailabilityFastBurn`: the service and SLO in PascalCase, then `suffix`.
pub fn alert_name(service: &str, kind: SloKind, suffix: &str) -> String {
    format!("{}{}{suffix}", pascal(service), pascal(kind.as_str()))
}

fn pascal(s: &str) -> String {
    s.split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The name of one SLO (`orders-availability`): its OpenSLO document and its report line.
pub fn slo_name(service: &ServiceSlos, slo: &Slo) -> String {
    format!("{}-{}", service.name(), slo.kind.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn le_labels_match_each_exporter() {
        let ms = Duration::from_millis;
        assert_eq!(le(SliSource::App, ms(250)), "0.25");
        assert_eq!(le(SliSource::App, ms(1000)), "1.0");
        assert_eq!(le(SliSource::App, ms(2500)), "2.5");
        assert_eq!(le(SliSource::App, ms(5)), "0.005");
        assert_eq!(le(SliSource::Mesh, ms(250)), "250");
    }

    #[test]
    fn alert_names_are_pascal_case() {
        assert_eq!(
            alert_name("orders", SloKind::Availability, "FastBurn"),
            "OrdersAvailabilityFastBurn"
        );
    }
}
