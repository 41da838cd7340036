//! Envoy static bootstraps for running an environment on one machine: one per sidecar
//! (two replicas of every service) and one for the ingress gateway, translated from the
//! same typed Istio objects the environment renders into `gitops/` (see
//! [`crate::render::mesh_policy`]), the way istiod would translate them. Only the
//! endpoints differ: STATIC addresses on 127.0.0.1 from [`ports::LocalPorts`] instead of
//! EDS, and plaintext instead of mTLS (see docs/local-stack.md for what plain Envoy cannot
//! do).

pub mod ports;
pub mod stats;
pub mod translate;

use std::collections::BTreeSet;

use kubestore_core::canary::CANARY_SUBSET;
use kubestore_core::model::{Environment, Service};
use kubestore_core::runtime::READYZ_PATH;
use serde_json::{Value, json};

use crate::render::{MeshPolicy, mesh_policy};
use ports::{LocalPorts, REPLICAS};
use translate::{fqdn, outbound_cluster_name};

/// One Envoy configuration of the stack.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvoyConfig {
    /// File name: `<service>-<replica>.yaml` or `ingress.yaml`.
    pub file: String,
    /// The bootstrap.
    pub bootstrap: Value,
}

/// File name of the ingress gateway's configuration.
pub const INGRESS_FILE: &str = "ingress.yaml";

/// File name of a sidecar's configuration.
pub fn sidecar_file(service: &str, replica: u16) -> String {
    format!("{service}-{replica}.yaml")
}

/// Every Envoy configuration of `env`'s one-machine stack.
pub fn render_local(env: &Environment, ports: LocalPorts) -> Vec<EnvoyConfig> {
    let policy = mesh_policy(env);
    let mut out = Vec::new();
    for service in &env.services {
        // A canary service's sidecar of its canary replica is written ahead, so a release
        // only starts processes.
        let canary = routed_subsets(&policy, service).contains(CANARY_SUBSET);
        let replicas = if canary {
            ports::CANARY_REPLICA + 1
        } else {
            REPLICAS
        };
        for replica in 0..replicas {
            out.push(EnvoyConfig {
                file: sidecar_file(service.name(), replica),
                bootstrap: sidecar(env, &policy, service, replica, ports),
            });
        }
    }
    out.push(EnvoyConfig {
        file: INGRESS_FILE.to_owned(),
        bootstrap: ingress(env, &policy, ports),
    });
    out
}

fn bootstrap(
    node_id: String,
    cluster: String,
    admin: u16,
    listeners: Vec<Value>,
    clusters: Vec<Value>,
) -> Value {
    json!({
        "node": {"id": node_id, "cluster": cluster},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "stats_config": {
            "use_all_default_tags": false,
            "stats_tags": stats::stats_tags(),
            "stats_matcher": stats::stats_matcher(),
        },
        // What istiod's bootstrap has too: an admin layer, through which the stack moves a
        // canary's weights (see `translate::weight_runtime_prefix`).
        "layered_runtime": {"layers": [{"name": "admin", "admin_layer": {}}]},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    })
}

/// The subsets of `service` that some route sends to (a canary service's `stable` and
/// `canary`), in name order.
fn routed_subsets(policy: &MeshPolicy, service: &Service) -> BTreeSet<String> {
    policy
        .virtual_services
        .values()
        .chain(std::iter::once(&policy.ingress))
        .flat_map(|vs| &vs.http)
        .flat_map(|r| &r.route)
        .filter(|d| d.destination.host == service.name())
        .filter_map(|d| d.destination.subset.clone())
        .collect()
}

/// The replicas a subset's pods are on this machine: the canary subset is the one extra
/// replica `scripts/stack rollout` starts, any other the stable replicas.
fn subset_replicas(subset: Option<&str>) -> Vec<u16> {
    if subset == Some(CANARY_SUBSET) {
        vec![ports::CANARY_REPLICA]
    } else {
        (0..REPLICAS).collect()
    }
}

/// The client-side clusters of `service` (its DestinationRule) over its replicas'
/// sidecars: the service's own, and one per routed subset, as istiod builds them.
fn destination_clusters(
    env: &Environment,
    policy: &MeshPolicy,
    service: &Service,
    ports: LocalPorts,
) -> Vec<Value> {
    let port = u32::from(service.def.port);
    let traffic_policy = policy
        .destination_rules
        .get(service.name())
        .map(|d| &d.traffic_policy);
    let subsets = routed_subsets(policy, service);
    std::iter::once(None)
        .chain(subsets.iter().map(|s| Some(s.as_str())))
        .map(|subset| {
            let name = match subset {
                Some(s) => translate::subset_cluster_name(service.name(), port, s, &env.namespace),
                None => outbound_cluster_name(service.name(), port, &env.namespace),
            };
            let endpoints: Vec<u16> = subset_replicas(subset)
                .into_iter()
                .map(|r| ports.inbound(service.def, r))
                .collect();
            let mut cluster = translate::outbound_cluster(&name, traffic_policy, &endpoints);
            cluster["health_checks"] = readiness_check(&fqdn(service.name(), &env.namespace));
            cluster
        })
        .collect()
}

/// Where the mesh learns readiness from Kubernetes (a pod failing `/readyz` leaves the
/// Service's endpoints, and EDS takes it out of every client's cluster), the static
/// clusters probe `/readyz` themselves: a draining replica stops getting requests before
/// it exits, as in a rolling update. Not an Istio translation; docs/local-stack.md lists it.
fn readiness_check(host: &str) -> Value {
    json!([{
        "timeout": "1s",
        "interval": "1s",
        "no_traffic_interval": "1s",
        "unhealthy_threshold": 3,
        "healthy_threshold": 1,
        // The cluster's name, Envoy's default Host, is not a valid host name.
        "http_health_check": {"path": READYZ_PATH, "host": host},
    }])
}

/// The routes of calls to `service`: its VirtualService, or Istio's default route.
fn destination_routes(env: &Environment, policy: &MeshPolicy, service: &Service) -> Vec<Value> {
    match policy.virtual_services.get(service.name()) {
        Some(vs) => translate::routes(vs, &env.namespace),
        None => vec![translate::default_route(&outbound_cluster_name(
            service.name(),
            u32::from(service.def.port),
            &env.namespace,
        ))],
    }
}

fn sidecar(
    env: &Environment,
    policy: &MeshPolicy,
    service: &Service,
    replica: u16,
    ports: LocalPorts,
) -> Value {
    let ns = &env.namespace;
    let port = service.def.port;
    let inbound = translate::inbound_cluster_name(port);
    let mut listeners = vec![translate::http_listener(
        &format!("virtualInbound_{port}"),
        ports.inbound(service.def, replica),
        "INBOUND",
        &format!("inbound_0.0.0.0_{port}"),
        json!({
            "name": inbound,
            "validate_clusters": false,
            "virtual_hosts": [{
                "name": format!("inbound|http|{port}"),
                "domains": ["*"],
                "routes": [translate::inbound_route(&inbound)],
            }],
        }),
    )];
    let mut clusters = vec![translate::inbound_cluster(
        port,
        policy
            .destination_rules
            .get(service.name())
            .map(|d| &d.traffic_policy),
        ports.app(service.def, replica),
    )];
    for dependency in service.def.calls {
        let Some(dep) = env.service(dependency) else {
            continue;
        };
        let dep_port = dep.def.port;
        listeners.push(translate::http_listener(
            &format!("0.0.0.0_{dep_port}"),
            ports.outbound(service.def, replica, dependency),
            "OUTBOUND",
            &format!("outbound_0.0.0.0_{dep_port}"),
            json!({
                "name": dep_port.to_string(),
                "validate_clusters": false,
                "ignore_port_in_host_matching": true,
                "virtual_hosts": [{
                    "name": format!("{}:{dep_port}", fqdn(dependency, ns)),
                    "domains": ["*"],
                    "include_request_attempt_count": true,
                    "routes": destination_routes(env, policy, dep),
                }],
            }),
        ));
        clusters.extend(destination_clusters(env, policy, dep, ports));
    }
    bootstrap(
        format!(
            "sidecar~127.0.0.1~{}-{replica}.{ns}~{ns}.svc.cluster.local",
            service.name()
        ),
        format!("{}.{ns}", service.name()),
        ports.sidecar_admin(service.def, replica),
        listeners,
        clusters,
    )
}

/// The ingress gateway: the Gateway's plain-HTTP server (TLS stays with the cluster; see
/// the docs), routed by the ingress VirtualService to the frontend's sidecars.
fn ingress(env: &Environment, policy: &MeshPolicy, ports: LocalPorts) -> Value {
    let ns = &env.namespace;
    let listen = ports.ingress();
    let host = &env.ingress.host;
    let mut clusters = Vec::new();
    if let Some(entry) = env.service(kubestore_core::catalog::ENTRY_POINT.name) {
        clusters.extend(destination_clusters(env, policy, entry, ports));
    }
    let listener = translate::http_listener(
        "0.0.0.0_8080",
        listen,
        "OUTBOUND",
        "outbound_0.0.0.0_8080",
        json!({
            "name": "http.8080",
            "validate_clusters": false,
            "ignore_port_in_host_matching": true,
            "virtual_hosts": [{
                "name": format!("{host}:80"),
                // The public host, and the names a browser on this machine sends (the
                // port is ignored in host matching).
                "domains": [host, "127.0.0.1", "localhost"],
                "routes": translate::routes(&policy.ingress, ns),
            }],
        }),
    );
    bootstrap(
        "router~127.0.0.1~istio-ingressgateway.istio-system~istio-system.svc.cluster.local"
            .to_owned(),
        "istio-ingressgateway.istio-system".to_owned(),
        ports.ingress_admin(),
        vec![listener],
        clusters,
    )
}
