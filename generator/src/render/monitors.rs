//! Scraping: a `ServiceMonitor` per service for the Prometheus Operator, and for
//! one-machine runs a plain `prometheus.yml` with static targets on 127.0.0.1 that gives
//! the series the same `job` and `namespace` labels, so that the SLO rules, the dashboards
//! and `slo-check` query both setups alike.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kubestore_core::conventions::{HTTP_PORT_NAME, selector};
use kubestore_core::model::Environment;
use kubestore_core::runtime::METRICS_PATH;
use serde_json::{Value, json};

use super::Object;
use super::workloads::meta;
use crate::crds::Custom;
use crate::crds::monitoring::{Endpoint, PodMetricsEndpoint, PodMonitorSpec, ServiceMonitorSpec};

/// Scrape interval: four samples in the shortest (1m) `$__rate_interval` Grafana uses.
pub const SCRAPE_INTERVAL: &str = "15s";

/// One ServiceMonitor per service. The Prometheus Operator names the job after the
/// Service (`job="orders"`) and adds `namespace`, as the plain configuration does.
pub fn render_service_monitors(env: &Environment) -> Vec<Object> {
    env.services
        .iter()
        .map(|service| {
            let name = service.name();
            let monitor = Custom::new(
                meta(name, "monitoring"),
                ServiceMonitorSpec {
                    job_label: Some(kubestore_core::conventions::NAME_LABEL.into()),
                    selector: LabelSelector {
                        match_labels: Some(selector(name)),
                        ..Default::default()
                    },
                    endpoints: vec![Endpoint {
                        port: HTTP_PORT_NAME.into(),
                        path: METRICS_PATH.into(),
                        interval: Some(SCRAPE_INTERVAL.into()),
                    }],
                    pod_target_labels: hash_label(super::canary::is_canary(service)),
                },
            );
            Object::new(name, "servicemonitor", &monitor)
        })
        .collect()
}

/// Name of the container port Istio's injector gives the sidecar's Envoy stats.
pub const ENVOY_STATS_PORT: &str = "http-envoy-prom";

/// A PodMonitor for the Istio sidecars of the store's pods: the `mesh` SLIs
/// (`istio_requests_total`, `istio_request_duration_milliseconds`), the outlier-ejection
/// alert and the Resilience dashboard read what Envoy exports on port 15090, which the
/// sidecar never intercepts, so it is scraped in plain text even under STRICT mTLS.
pub fn render_pod_monitor(env: &Environment) -> Object {
    let name = "istio-proxies";
    let monitor = Custom::new(
        meta(name, "monitoring"),
        PodMonitorSpec {
            selector: LabelSelector {
                match_labels: Some(
                    [(
                        kubestore_core::conventions::PART_OF_LABEL.to_owned(),
                        kubestore_core::conventions::PART_OF.to_owned(),
                    )]
                    .into(),
                ),
                ..Default::default()
            },
            pod_metrics_endpoints: vec![PodMetricsEndpoint {
                port: ENVOY_STATS_PORT.into(),
                path: "/stats/prometheus".into(),
                interval: Some(SCRAPE_INTERVAL.into()),
            }],
            pod_target_labels: hash_label(env.services.iter().any(super::canary::is_canary)),
        },
    );
    Object::new(name, "podmonitor", &monitor)
}

/// The pod label that tells a canary's series from the stable version's, copied onto
/// the series where a canary's analysis asks for it.
fn hash_label(canary: bool) -> Vec<String> {
    if canary {
        vec![kubestore_core::canary::POD_TEMPLATE_HASH_LABEL.to_owned()]
    } else {
        Vec::new()
    }
}

/// `prometheus.yml` for one machine: every service on 127.0.0.1 at its catalogue port,
/// the rules file beside it. Start it from that folder:
/// `prometheus --config.file=prometheus.yml --storage.tsdb.retention.time=30d`.
pub fn prometheus_config(env: &Environment) -> Value {
    let jobs: Vec<Value> = env
        .services
        .iter()
        .map(|service| {
            json!({
                "job_name": service.name(),
                "metrics_path": METRICS_PATH,
                "static_configs": [{
                    "targets": [format!("127.0.0.1:{}", service.def.port)],
                    "labels": {"namespace": env.namespace},
                }],
            })
        })
        .collect();
    json!({
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "rule_files": [crate::tree::RULES_FILE],
        "scrape_configs": jobs,
    })
}
