//! Prometheus Operator resources (`monitoring.coreos.com/v1`): `PrometheusRule` and
//! `ServiceMonitor`, with the fields of `prometheusrules.yaml` and `servicemonitors.yaml`
//! in `shared/schemas/crds/monitoring.coreos.com` that the generator renders.
//!
//! [`RuleGroup`] is also exactly the shape of a plain Prometheus rules file, which is how
//! the one-machine Prometheus and `promtool` read the same rules.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Serialize;

use super::Resource;

/// `PrometheusRule.spec`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrometheusRuleSpec {
    /// Rule groups; rules of a group are evaluated in order, groups concurrently.
    pub groups: Vec<RuleGroup>,
}

impl Resource for PrometheusRuleSpec {
    const API_VERSION: &'static str = "monitoring.coreos.com/v1";
    const KIND: &'static str = "PrometheusRule";
}

/// A rule group (`spec.groups[]`, and a group of a plain rules file).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleGroup {
    /// Group name, unique within the Prometheus.
    pub name: String,
    /// Evaluation interval; Prometheus's global one when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Recording and alerting rules.
    pub rules: Vec<Rule>,
}

/// A recording rule (`record`) or an alerting rule (`alert`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// Name of the series a recording rule writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// Name of the alert an alerting rule raises.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// The PromQL expression.
    pub expr: String,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    /// Labels added to the result.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Alert annotations (summary, description, runbook_url).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    /// A recording rule.
    pub fn record(name: impl Into<String>, expr: impl Into<String>) -> Self {
        Self {
            record: Some(name.into()),
            alert: None,
            expr: expr.into(),
            for_: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    /// An alerting rule.
    pub fn alert(name: impl Into<String>, expr: impl Into<String>) -> Self {
        Self {
            record: None,
            alert: Some(name.into()),
            expr: expr.into(),
            for_: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    /// Sets the labels.
    pub fn labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.labels = labels;
        self
    }

    /// Adds one label.
    pub fn label(mut self, key: &str, value: impl Into<String>) -> Self {
        self.labels.insert(key.to_owned(), value.into());
        self
    }

    /// Adds one annotation.
    pub fn annotation(mut self, key: &str, value: impl Into<String>) -> Self {
        self.annotations.insert(key.to_owned(), value.into());
        self
    }

    /// Sets `for`.
    pub fn for_duration(mut self, duration: impl Into<String>) -> Self {
        self.for_ = Some(duration.into());
        self
    }
}

/// `ServiceMonitor.spec`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    /// Label of the Service whose value becomes the `job` label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_label: Option<String>,
    /// Selects the Services to scrape (in the ServiceMonitor's own namespace).
    pub selector: LabelSelector,
    /// Endpoints (ports) of the selected Services to scrape.
    pub endpoints: Vec<Endpoint>,
    /// Pod labels copied onto every scraped series (`-` becomes `_`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pod_target_labels: Vec<String>,
}

impl Resource for ServiceMonitorSpec {
    const API_VERSION: &'static str = "monitoring.coreos.com/v1";
    const KIND: &'static str = "ServiceMonitor";
}

/// A scraped endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// Name of the Service port.
    pub port: String,
    /// HTTP path of the metrics.
    pub path: String,
    /// Scrape interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}

/// `PodMonitor.spec`: scrapes pods directly, here the Istio sidecars' Envoy stats.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMonitorSpec {
    /// Selects the pods to scrape (in the PodMonitor's own namespace).
    pub selector: LabelSelector,
    /// Container ports of the selected pods to scrape.
    pub pod_metrics_endpoints: Vec<PodMetricsEndpoint>,
    /// Pod labels copied onto every scraped series (`-` becomes `_`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pod_target_labels: Vec<String>,
}

impl Resource for PodMonitorSpec {
    const API_VERSION: &'static str = "monitoring.coreos.com/v1";
    const KIND: &'static str = "PodMonitor";
}

/// A scraped pod port.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetricsEndpoint {
    /// Name of the container port.
    pub port: String,
    /// HTTP path of the metrics.
    pub path: String,
    /// Scrape interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}
