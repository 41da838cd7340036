//! The monitoring stack the environment reports to: the namespace Prometheus scrapes
//! from, the Prometheus the post-sync SLO check asks, the Grafana folder.
//!
//! The SLO check runs under a NetworkPolicy that admits egress to one namespace on one
//! port, and nothing else; a Prometheus URL that policy cannot admit would block the
//! check with the store's own policy, so such a URL is refused here.

use std::net::Ipv4Addr;

use crate::defaults;
use crate::model::check::{Check, Checked, shown_text};
use crate::model::dns;
use crate::model::{ClusterService, Monitoring};
use crate::spec::EnvironmentSpec;

/// The endings of a Service's in-cluster name after `<service>.<namespace>`.
const SERVICE_DOMAINS: [&str; 2] = [".svc", ".svc.cluster.local"];

/// The checked monitoring settings, defaults filled in.
pub(super) fn monitoring(c: &mut Check, spec: &EnvironmentSpec) -> Checked<Monitoring> {
    let monitoring = spec.monitoring.clone().unwrap_or_default();
    if let Some(ns) = &monitoring.namespace
        && !dns::is_label(ns)
    {
        c.error(
            "monitoring.namespace",
            format!("`{ns}` is not a valid namespace: {}", dns::LABEL_RULE),
        );
    }
    let namespace = monitoring
        .namespace
        .unwrap_or_else(|| defaults::MONITORING_NAMESPACE.into());
    let prometheus_url = monitoring
        .prometheus_url
        .unwrap_or_else(|| defaults::prometheus_url(&namespace));
    let prometheus = cluster_service(&prometheus_url)
        .map_err(|message| c.error("monitoring.prometheus_url", message));
    Ok(Monitoring {
        prometheus: prometheus?,
        namespace,
        prometheus_url,
        grafana_folder: monitoring
            .grafana_folder
            .unwrap_or_else(|| defaults::GRAFANA_FOLDER.into()),
    })
}

/// The Service an `http[s]://<service>.<namespace>.svc[.cluster.local][:port][/path]` URL
/// reaches, or why the SLO check's NetworkPolicy could not admit it.
fn cluster_service(url: &str) -> Result<ClusterService, String> {
    let example = defaults::prometheus_url(defaults::MONITORING_NAMESPACE);
    let shown = shown_text(url);
    let (rest, default_port) = if let Some(rest) = url.strip_prefix("http://") {
        (rest, 80)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (rest, 443)
    } else {
        return Err(format!(
            "{shown} is not an http:// or https:// URL: expected e.g. `{example}`"
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!(
            "{shown} carries credentials: an environment file is committed, so give them to \
             the SLO check another way"
        ));
    }
    let outside = |host: &str| {
        format!(
            "`{host}` is not a Service of the cluster: the SLO check's NetworkPolicy admits \
             only `<service>.<namespace>.svc`, e.g. `{example}`"
        )
    };
    if authority.starts_with('[') {
        return Err(outside(authority));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(port) if port > 0 => (host, port),
            _ => {
                return Err(format!(
                    "`{port}` in {shown} is not a port: expected a number from 1 to 65535"
                ));
            }
        },
        None => (authority, default_port),
    };
    if host.parse::<Ipv4Addr>().is_ok() {
        return Err(outside(host));
    }
    let service = SERVICE_DOMAINS
        .iter()
        .find_map(|domain| host.strip_suffix(domain))
        .and_then(|name| name.split_once('.'))
        .filter(|(name, namespace)| dns::is_label(name) && dns::is_label(namespace));
    match service {
        Some((name, namespace)) => Ok(ClusterService {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            port,
        }),
        None => Err(outside(host)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, namespace: &str, port: u16) -> Result<ClusterService, String> {
        Ok(ClusterService {
            name: name.into(),
            namespace: namespace.into(),
            port,
        })
    }

    #[test]
    fn a_service_url_gives_its_namespace_and_port() {
        let cases = [
            (
                "http://prometheus-operated.monitoring.svc:9090",
                "prometheus-operated",
                "monitoring",
                9090,
            ),
            (
                "http://vmselect.observability.svc.cluster.local:8481/select/0/prometheus",
                "vmselect",
                "observability",
                8481,
            ),
            (
                "https://thanos-query.thanos.svc",
                "thanos-query",
                "thanos",
                443,
            ),
            ("http://prometheus.obs.svc/", "prometheus", "obs", 80),
        ];
        for (url, name, namespace, port) in cases {
            assert_eq!(
                cluster_service(url),
                service(name, namespace, port),
                "{url}"
            );
        }
    }

    #[test]
    fn what_a_namespace_policy_cannot_admit_is_refused() {
        for url in [
            "https://prometheus.example.com",
            "http://10.0.0.7:9090",
            "http://[fd00::7]:9090",
            "http://prometheus:9090",
            "http://prometheus.monitoring:9090",
            "http://a.b.svc.example.com",
            "http://user:secret@prometheus-operated.monitoring.svc:9090",
            "http://prometheus-operated.monitoring.svc:0",
            "http://prometheus-operated.monitoring.svc:http",
            "prometheus-operated.monitoring.svc:9090",
            "",
        ] {
            assert!(cluster_service(url).is_err(), "{url}");
        }
    }
}
