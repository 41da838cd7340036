//! The monitoring stack the environment reports to: the namespace Prometheus scrapes
//! from, the Prometheus the post-sync SLO check asks, the Grafana folder.

use super::super::Monitoring;
use super::super::check::Check;
use super::super::dns;
use crate::defaults;
use crate::spec::EnvironmentSpec;

/// The checked monitoring settings, defaults filled in.
pub(super) fn monitoring(c: &mut Check, spec: &EnvironmentSpec) -> Monitoring {
    let monitoring = spec.monitoring.clone().unwrap_or_default();
    if let Some(ns) = &monitoring.namespace
        && !dns::is_label(ns)
    {
        c.error(
            "monitoring.namespace",
            format!("`{ns}` is not a valid namespace: {}", dns::LABEL_RULE),
        );
    }
    Monitoring {
        namespace: monitoring
            .namespace
            .unwrap_or_else(|| defaults::MONITORING_NAMESPACE.into()),
        prometheus_url: monitoring
            .prometheus_url
            .unwrap_or_else(|| defaults::PROMETHEUS_URL.into()),
        grafana_folder: monitoring
            .grafana_folder
            .unwrap_or_else(|| defaults::GRAFANA_FOLDER.into()),
    }
}
