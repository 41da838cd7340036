//! NetworkPolicies: deny everything in the namespace, then allow exactly the call graph of
//! the catalogue, each service's data store, DNS, the mesh control plane, the ingress
//! gateway to the frontend, and scraping from the monitoring namespace.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubestore_core::catalog::{self, Datastore};
use kubestore_core::conventions::{self as conv, labels, selector};
use kubestore_core::model::Environment;

use super::Object;

/// Namespace of the Istio control plane and ingress gateway.
pub const ISTIO_NAMESPACE: &str = "istio-system";

pub(super) fn render_network_policies(env: &Environment) -> Vec<Object> {
    let mut out = vec![
        Object::new("default-deny", "networkpolicy", &default_deny()),
        Object::new("allow-dns", "networkpolicy", &allow_dns()),
        Object::new("allow-mesh", "networkpolicy", &allow_mesh(env)),
    ];
    for service in &env.services {
        out.push(Object::new(
            service.name(),
            "networkpolicy",
            &service_policy(env, service.def),
        ));
    }
    for (name, port, client) in [
        (
            catalog::MYSQL,
            catalog::MYSQL_PORT,
            conv::MYSQL_CLIENT_LABEL,
        ),
        (
            catalog::REDIS,
            catalog::REDIS_PORT,
            conv::REDIS_CLIENT_LABEL,
        ),
    ] {
        out.push(Object::new(
            name,
            "networkpolicy",
            &store_policy(name, port, client),
        ));
    }
    out
}

fn policy(
    name: &str,
    pods: LabelSelector,
    ingress: Option<Vec<NetworkPolicyIngressRule>>,
    egress: Option<Vec<NetworkPolicyEgressRule>>,
) -> NetworkPolicy {
    let mut types = Vec::new();
    if ingress.is_some() {
        types.push("Ingress".to_owned());
    }
    if egress.is_some() {
        types.push("Egress".to_owned());
    }
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels(name, "network-policy")),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(pods),
            policy_types: Some(types),
            ingress,
            egress,
        }),
    }
}

fn pods(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels),
        ..Default::default()
    }
}

fn all_pods() -> LabelSelector {
    LabelSelector::default()
}

fn namespace(name: &str) -> LabelSelector {
    pods(BTreeMap::from([(
        "kubernetes.io/metadata.name".to_owned(),
        name.to_owned(),
    )]))
}

fn tcp(port: u16) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(i32::from(port))),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn peer_pods(labels: BTreeMap<String, String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(pods(labels)),
        ..Default::default()
    }
}

fn peer_namespace(name: &str, labels: Option<BTreeMap<String, String>>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(namespace(name)),
        pod_selector: labels.map(pods),
        ..Default::default()
    }
}

fn default_deny() -> NetworkPolicy {
    policy(
        "default-deny",
        all_pods(),
        Some(Vec::new()),
        Some(Vec::new()),
    )
}

fn allow_dns() -> NetworkPolicy {
    let dns = BTreeMap::from([("k8s-app".to_owned(), "kube-dns".to_owned())]);
    let port = |protocol: &str| NetworkPolicyPort {
        port: Some(IntOrString::Int(53)),
        protocol: Some(protocol.into()),
        ..Default::default()
    };
    policy(
        "allow-dns",
        all_pods(),
        None,
        Some(vec![NetworkPolicyEgressRule {
            to: Some(vec![peer_namespace("kube-system", Some(dns))]),
            ports: Some(vec![port("UDP"), port("TCP")]),
        }]),
    )
}

/// Sidecars fetch their configuration and certificates from istiod, and Prometheus
/// scrapes the sidecars' merged metrics.
fn allow_mesh(env: &Environment) -> NetworkPolicy {
    policy(
        "allow-mesh",
        all_pods(),
        Some(vec![NetworkPolicyIngressRule {
            from: Some(vec![peer_namespace(&env.monitoring.namespace, None)]),
            // 15020: merged app and Envoy metrics; 15090: Envoy's own.
            ports: Some(vec![tcp(15020), tcp(15090)]),
        }]),
        Some(vec![NetworkPolicyEgressRule {
            to: Some(vec![peer_namespace(
                ISTIO_NAMESPACE,
                Some(BTreeMap::from([("app".to_owned(), "istiod".to_owned())])),
            )]),
            // 15012: XDS and certificates over mTLS.
            ports: Some(vec![tcp(15012)]),
        }]),
    )
}

fn service_policy(env: &Environment, def: &catalog::ServiceDef) -> NetworkPolicy {
    let mut from = vec![peer_namespace(&env.monitoring.namespace, None)];
    from.extend(catalog::callers(def.name).map(|caller| peer_pods(selector(caller.name))));
    if def.public {
        from.push(peer_namespace(
            ISTIO_NAMESPACE,
            Some(BTreeMap::from([(
                "istio".to_owned(),
                "ingressgateway".to_owned(),
            )])),
        ));
    }
    let mut egress: Vec<_> = def
        .calls
        .iter()
        .filter_map(|callee| catalog::service(callee))
        .map(|callee| NetworkPolicyEgressRule {
            to: Some(vec![peer_pods(selector(callee.name))]),
            ports: Some(vec![tcp(callee.port)]),
        })
        .collect();
    match def.datastore {
        Some(Datastore::Mysql) => egress.push(NetworkPolicyEgressRule {
            to: Some(vec![peer_pods(selector(catalog::MYSQL))]),
            ports: Some(vec![tcp(catalog::MYSQL_PORT)]),
        }),
        Some(Datastore::Redis) => egress.push(NetworkPolicyEgressRule {
            to: Some(vec![peer_pods(selector(catalog::REDIS))]),
            ports: Some(vec![tcp(catalog::REDIS_PORT)]),
        }),
        None => {}
    }
    policy(
        def.name,
        pods(selector(def.name)),
        Some(vec![NetworkPolicyIngressRule {
            from: Some(from),
            ports: Some(vec![tcp(def.port)]),
        }]),
        Some(egress),
    )
}

fn store_policy(name: &str, port: u16, client_label: &str) -> NetworkPolicy {
    let clients = BTreeMap::from([(client_label.to_owned(), "true".to_owned())]);
    policy(
        name,
        pods(selector(name)),
        Some(vec![NetworkPolicyIngressRule {
            from: Some(vec![peer_pods(clients)]),
            ports: Some(vec![tcp(port)]),
        }]),
        Some(Vec::new()),
    )
}
