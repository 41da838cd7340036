//! The canary gate, derived from the SLOs: the names of the analysis metrics, their
//! PromQL (built from the same SLI selectors as the recording rules, the alerts and
//! `slo-check`, narrowed to one version's pods by `rollouts-pod-template-hash`) and the
//! conditions that judge each measurement. The generator renders them into an Argo
//! Rollouts `AnalysisTemplate`; the one-machine stack runs the rendered one.
//!
//! Every query answers one number, never nothing: an empty answer would make Argo
//! Rollouts count a measurement error instead of a verdict. Where the canary had too few
//! requests the burn queries answer [`TOO_FEW_REQUESTS`], which no condition matches, so
//! the measurement is Inconclusive and the rollout waits for a person rather than pass.

use crate::model::slo::{ServiceSlos, Slo, SloKind};
use crate::model::{Environment, Release};
use crate::sli;

/// The pod label Argo Rollouts gives each version's pods.
pub const POD_TEMPLATE_HASH_LABEL: &str = "rollouts-pod-template-hash";
/// The same label on scraped series: Prometheus Operator turns `-` into `_`.
pub const POD_TEMPLATE_HASH_SERIES_LABEL: &str = "rollouts_pod_template_hash";
/// Analysis argument holding the canary's pod-template hash.
pub const CANARY_HASH_ARG: &str = "canary-hash";
/// Analysis argument holding the stable version's pod-template hash.
pub const STABLE_HASH_ARG: &str = "stable-hash";
/// Subset of the DestinationRule the canary's pods are routed through.
pub const CANARY_SUBSET: &str = "canary";
/// Subset of the DestinationRule the stable pods are routed through.
pub const STABLE_SUBSET: &str = "stable";
/// What a burn query answers when the canary had fewer than `min_requests` requests.
pub const TOO_FEW_REQUESTS: i32 = -1;

/// `{{args.<name>}}`: how an AnalysisTemplate's query reads an argument.
pub fn arg(name: &str) -> String {
    format!("{{{{args.{name}}}}}")
}

/// Which version's pods a query selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The new version.
    Canary,
    /// The version serving before the release.
    Stable,
}

impl Version {
    fn hash_arg(self) -> &'static str {
        match self {
            Version::Canary => CANARY_HASH_ARG,
            Version::Stable => STABLE_HASH_ARG,
        }
    }
}

/// How a measurement's value is judged: Argo Rollouts' `successCondition` and
/// `failureCondition`, in the one form the generator writes, `result[0] <op> <number>`
/// clauses joined by `&&`.
#[derive(Debug, Clone, PartialEq)]
pub struct Conditions {
    /// The measurement passes when this holds.
    pub success: Option<String>,
    /// The release is aborted when this holds; neither holding is Inconclusive.
    pub failure: Option<String>,
}

/// One measurement of the analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryMetric {
    /// Metric name, unique in the template: `<service>-canary-requests`,
    /// `<slo>-canary-burn`, `<slo>-canary-vs-stable`.
    pub name: String,
    /// PromQL with `{{args.canary-hash}}` / `{{args.stable-hash}}` left to Argo Rollouts.
    pub query: String,
    /// How its value is judged.
    pub conditions: Conditions,
}

/// Every measurement of one service's canary: the canary's traffic, then per SLO its
/// burn rate and its comparison with the stable version.
pub fn metrics(env: &Environment, slos: &ServiceSlos, release: &Release) -> Vec<CanaryMetric> {
    let mut out = vec![requests_metric(env, slos, release)];
    for slo in &slos.slos {
        out.push(burn_metric(env, slos, slo, release));
        out.push(vs_stable_metric(env, slos, slo, release));
    }
    out
}

/// The canary's requests over one interval, counted on the availability SLI's series.
pub fn requests_metric(env: &Environment, slos: &ServiceSlos, release: &Release) -> CanaryMetric {
    let query = format!(
        "{} or on() vector(0)",
        requests_expr(env, slos, Version::Canary, release)
    );
    CanaryMetric {
        name: format!("{}-canary-requests", slos.name()),
        query,
        // The count is never negative, so the failure condition never holds: too little
        // traffic is Inconclusive, never a pass and never a failure (with a success
        // condition alone, Argo Rollouts would count it as failed).
        conditions: Conditions {
            success: Some(format!("result[0] >= {}", release.min_requests)),
            failure: Some("result[0] < 0".to_owned()),
        },
    }
}

/// The canary's burn rate of `slo` over one interval: its error ratio over the SLO's
/// error budget, or [`TOO_FEW_REQUESTS`].
pub fn burn_metric(
    env: &Environment,
    slos: &ServiceSlos,
    slo: &Slo,
    release: &Release,
) -> CanaryMetric {
    let ratio = error_ratio(env, slos, slo, Version::Canary, release);
    let query = format!(
        "(({ratio}) / {budget} and on() ({requests} >= {min})) or on() vector({TOO_FEW_REQUESTS})",
        budget = slo.budget_ratio(),
        requests = requests_expr(env, slos, Version::Canary, release),
        min = release.min_requests,
    );
    let max = number(release.max_burn);
    CanaryMetric {
        name: format!("{}-canary-burn", sli::slo_name(slos, slo)),
        query,
        conditions: Conditions {
            success: Some(format!("result[0] >= 0 && result[0] <= {max}")),
            failure: Some(format!("result[0] > {max}")),
        },
    }
}

/// How much the canary's error ratio of `slo` exceeds what the stable version allows:
/// `canary - (max_ratio_to_stable x stable + budget)`; above 0 aborts. The floor of one
/// error budget keeps a stable version without errors from making a single canary
/// error fatal. With too few canary requests it answers [`TOO_FEW_REQUESTS`], which
/// passes: the requests metric already holds such a step back.
pub fn vs_stable_metric(
    env: &Environment,
    slos: &ServiceSlos,
    slo: &Slo,
    release: &Release,
) -> CanaryMetric {
    let canary = error_ratio(env, slos, slo, Version::Canary, release);
    let stable = error_ratio(env, slos, slo, Version::Stable, release);
    let query = format!(
        "((({canary}) - ({ratio} * (({stable}) or on() vector(0)) + {budget})) \
         and on() ({requests} >= {min})) or on() vector({TOO_FEW_REQUESTS})",
        ratio = number(release.max_ratio_to_stable),
        budget = slo.budget_ratio(),
        requests = requests_expr(env, slos, Version::Canary, release),
        min = release.min_requests,
    );
    CanaryMetric {
        name: format!("{}-canary-vs-stable", sli::slo_name(slos, slo)),
        query,
        conditions: Conditions {
            success: None,
            failure: Some("result[0] > 0".to_owned()),
        },
    }
}

/// `sum(increase(<total>[interval]))` of one version.
fn requests_expr(
    env: &Environment,
    slos: &ServiceSlos,
    version: Version,
    release: &Release,
) -> String {
    let availability = slos
        .slos
        .iter()
        .find(|s| s.kind == SloKind::Availability)
        .unwrap_or(&slos.slos[0]);
    let hash = arg(version.hash_arg());
    let m = sli::sli_metrics_where(
        env,
        slos,
        availability,
        Some((POD_TEMPLATE_HASH_SERIES_LABEL, &hash)),
    );
    format!("sum(increase({}[{}]))", m.total, release.analysis_interval)
}

/// One version's error ratio of `slo` over one interval, as the recording rules compute
/// it for the whole service.
fn error_ratio(
    env: &Environment,
    slos: &ServiceSlos,
    slo: &Slo,
    version: Version,
    release: &Release,
) -> String {
    let hash = arg(version.hash_arg());
    sli::error_ratio_expr_where(
        env,
        slos,
        slo,
        &release.analysis_interval.to_string(),
        Some((POD_TEMPLATE_HASH_SERIES_LABEL, &hash)),
    )
}

/// A limit as PromQL and Argo's expression language both read it (`14.4`, `2`).
pub fn number(v: f64) -> String {
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_spelt_as_argo_rollouts_reads_them() {
        assert_eq!(arg(CANARY_HASH_ARG), "{{args.canary-hash}}");
    }

    #[test]
    fn limits_print_as_written() {
        assert_eq!(number(14.4), "14.4");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(0.5), "0.5");
    }

    #[test]
    fn the_series_label_is_the_pod_label_as_prometheus_operator_spells_it() {
        assert_eq!(
            POD_TEMPLATE_HASH_LABEL.replace('-', "_"),
            POD_TEMPLATE_HASH_SERIES_LABEL
        );
    }
}
