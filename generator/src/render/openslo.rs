//! The SLOs of an environment as OpenSLO v1 documents (`kind: SLO`), one file per SLO
//! under `slo/<env>/`, for `slo-check` and any other OpenSLO tool to read.
//!
//! Each document carries the objective, the rolling time window and a `ratioMetric`
//! indicator whose `bad` (availability) or `good` (latency) and `total` queries are the raw
//! Prometheus counters (`counter: true`: a reader takes their increase over the window it
//! measures). Annotations add what OpenSLO has no field for:
//! - `kubestore.dev/error-ratio-query`: the SLI's error ratio over `$window`, ready to
//!   run after replacing `$window` with a PromQL duration (`10m`);
//! - `kubestore.dev/recorded-error-ratio`: the recorded series holding the error ratio
//!   over the whole window;
//! - `kubestore.dev/error-budget`: the budget as a ratio (`0.001`);
//! - `kubestore.dev/prometheus-url`: where the post-sync check asks;
//! - `kubestore.dev/min-request-rate`: requests per second below which `slo-check`
//!   reports low traffic instead of a verdict;
//! - `kubestore.dev/fast-burn`: the page tier's burn-rate factor, which stops a post-sync
//!   soak at once.

use kubestore_core::model::Environment;
use kubestore_core::model::slo::{ServiceSlos, Slo, SloKind};
use kubestore_core::sli::{
    error_ratio_expr, error_ratio_series, selector, sli_metrics, slo_labels, slo_name,
};
use kubestore_core::slo_check::{WINDOW_PLACEHOLDER, annotations as a};
use serde_json::{Value, json};

/// `(file name, document)` per SLO of `env`; [`crate::tree::EnvTree::openslo`] is the
/// folder they go to.
pub fn render_openslo(env: &Environment) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for service in &env.slos.services {
        for slo in &service.slos {
            let name = slo_name(service, slo);
            out.push((format!("{name}.yaml"), document(env, service, slo, &name)));
        }
    }
    out
}

fn prometheus(query: String) -> Value {
    json!({"metricSource": {"type": "Prometheus", "spec": {"query": query}}})
}

fn document(env: &Environment, service: &ServiceSlos, slo: &Slo, name: &str) -> Value {
    let m = sli_metrics(env, service, slo);
    let (ratio_key, description) = match slo.threshold {
        Some(t) => (
            "good",
            format!(
                "{} of {} requests answered faster than {t}",
                slo.objective,
                service.name()
            ),
        ),
        None => (
            "bad",
            format!(
                "{} of {} requests answered without a 5xx",
                slo.objective,
                service.name()
            ),
        ),
    };
    let mut ratio = serde_json::Map::new();
    ratio.insert("counter".into(), json!(true));
    ratio.insert(ratio_key.into(), prometheus(format!("sum({})", m.subset)));
    ratio.insert("total".into(), prometheus(format!("sum({})", m.total)));
    let labels = slo_labels(env, service, slo);
    json!({
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {
            "name": name,
            "displayName": format!("{} {}", service.name(), slo.kind.as_str()),
            "labels": {
                "environment": env.name,
                "service": service.name(),
                "slo": slo.kind.as_str(),
            },
            "annotations": {
                a::ERROR_RATIO_QUERY: error_ratio_expr(env, service, slo, WINDOW_PLACEHOLDER),
                a::RECORDED_ERROR_RATIO: selector(&error_ratio_series(service.window), &labels),
                a::ERROR_BUDGET: slo.budget_ratio(),
                a::PROMETHEUS_URL: env.monitoring.prometheus_url,
                a::SLI_SOURCE: service.source,
                a::MIN_REQUEST_RATE: slo.min_request_rate.per_second(),
                a::FAST_BURN: service.burn_windows()[0].factor(),
            },
        },
        "spec": {
            "description": description,
            "service": service.name(),
            "indicator": {
                "metadata": {"name": format!("{name}-sli")},
                "spec": {"ratioMetric": Value::Object(ratio)},
            },
            "timeWindow": [{"duration": service.window.to_string(), "isRolling": true}],
            "budgetingMethod": "Occurrences",
            "objectives": [{
                "displayName": match slo.kind {
                    SloKind::Availability => "answered without a 5xx".to_owned(),
                    SloKind::Latency => format!(
                        "faster than {}",
                        slo.threshold.map(|t| t.to_string()).unwrap_or_default()
                    ),
                },
                "target": slo.objective_ratio().parse::<f64>().map(|t| json!(t)).unwrap_or(Value::Null),
            }],
        },
    })
}
