//! Renderers: pure functions from an [`Environment`] to Kubernetes objects, one module per
//! concern. Nothing here touches the file system; [`crate::layout`] arranges the objects
//! into a Kustomize tree and [`crate::output`] writes it.

pub mod argocd;
pub mod dashboards;
mod datastores;
mod hooks;
mod istio;
pub mod monitors;
mod network;
pub mod openslo;
mod scaling;
mod secrets;
pub mod slo_rules;
mod workloads;

use std::collections::BTreeMap;

use kubestore_core::model::Environment;
use serde::Serialize;
use serde_json::Value;

use crate::crds::istio::{DestinationRuleSpec, VirtualServiceSpec};

/// One rendered object.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// File name without extension, `<name>-<kind>`, unique within an environment.
    pub file: String,
    /// The object as JSON, fields in the order the typed struct serializes them.
    pub value: Value,
}

impl Object {
    /// Wraps a typed object; `kind` names the file (`deployment`, `service`, ...).
    pub fn new(name: &str, kind: &str, object: &impl Serialize) -> Self {
        let value = serde_json::to_value(object).expect("Kubernetes objects serialize to JSON");
        Self {
            file: format!("{name}-{kind}"),
            value,
        }
    }

    /// `(apiVersion, kind, name)`, which identifies the object in a namespace.
    pub fn identity(&self) -> (String, String, String) {
        let field = |path: &str| {
            self.value
                .pointer(path)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        (
            field("/apiVersion"),
            field("/kind"),
            field("/metadata/name"),
        )
    }
}

/// Every object of the store's namespace for `env`, in a stable order.
pub fn render_all(env: &Environment) -> Vec<Object> {
    let mut objects = Vec::new();
    objects.extend(workloads::render_workloads(env));
    objects.extend(datastores::render_datastores(env));
    objects.extend(scaling::render_scaling(env));
    objects.extend(network::render_network_policies(env));
    objects.extend(istio::render_mesh(env));
    objects.extend(hooks::render_hooks(env));
    objects.sort_by(|a, b| a.file.cmp(&b.file));
    for object in &mut objects {
        argocd::annotate_sync_wave(object);
    }
    objects
}

/// Monitoring objects: SLO rules, ServiceMonitors and dashboards. They name their
/// environment in labels and expressions everywhere, so they live in each overlay whole
/// rather than as patches of a base copy.
pub fn render_monitoring(env: &Environment) -> Vec<Object> {
    let mut objects = Vec::new();
    objects.extend(slo_rules::render_rules(env));
    objects.extend(monitors::render_service_monitors(env));
    objects.push(monitors::render_pod_monitor());
    objects.extend(dashboards::render_dashboards(env));
    objects.sort_by(|a, b| a.file.cmp(&b.file));
    objects
}

/// A file outside the Kustomize tree: Kustomize never lists it, Argo CD never applies it.
#[derive(Debug, Clone, PartialEq)]
pub enum Plain {
    /// A YAML document.
    Yaml(Value),
    /// A Markdown document.
    Markdown(String),
}

/// The plain files of `env`, keyed by path relative to the tree's root: the one-machine
/// Prometheus configuration and rules, and the runbook the alerts link to.
pub fn render_plain(env: &Environment) -> Vec<(String, Plain)> {
    let places = crate::tree::EnvTree::of(env);
    let prometheus = places.prometheus();
    let openslo = places.openslo();
    vec![
        (
            format!("{prometheus}/{}", crate::tree::PROMETHEUS_CONFIG),
            Plain::Yaml(monitors::prometheus_config(env)),
        ),
        (
            format!("{prometheus}/{}", crate::tree::RULES_FILE),
            Plain::Yaml(slo_rules::rules_file(env)),
        ),
        (places.runbook(), Plain::Markdown(slo_rules::runbook(env))),
    ]
    .into_iter()
    .chain(
        openslo::render_openslo(env)
            .into_iter()
            .map(|(file, document)| (format!("{openslo}/{file}"), Plain::Yaml(document))),
    )
    .collect()
}

/// The Namespace object: it stays out of the base, as each overlay names its own.
pub fn render_namespace(env: &Environment) -> Object {
    workloads::render_namespace(env)
}

/// The credentials' SealedSecrets or ExternalSecrets: like the Namespace they stay out of
/// the base, as sealed values are bound to one namespace.
pub fn render_secrets(env: &Environment) -> Vec<Object> {
    secrets::render_secrets(env)
}

/// The typed Istio traffic policy of an environment, as [`render_all`] writes it: what
/// [`crate::envoy`] translates into Envoy configuration.
#[derive(Debug, Clone)]
pub struct MeshPolicy {
    /// VirtualServices of the sidecars, keyed by host (the service name).
    pub virtual_services: BTreeMap<String, VirtualServiceSpec>,
    /// DestinationRules, keyed by host.
    pub destination_rules: BTreeMap<String, DestinationRuleSpec>,
    /// The VirtualService bound to the ingress Gateway.
    pub ingress: VirtualServiceSpec,
}

/// The Istio objects of `env` that shape traffic, built by the same functions as the
/// rendered tree.
pub fn mesh_policy(env: &Environment) -> MeshPolicy {
    MeshPolicy {
        virtual_services: env
            .services
            .iter()
            .map(|s| (s.name().to_owned(), istio::virtual_service(env, s).spec))
            .collect(),
        destination_rules: env
            .services
            .iter()
            .map(|s| (s.name().to_owned(), istio::destination_rule(s).spec))
            .collect(),
        ingress: istio::ingress_route(env).spec,
    }
}
