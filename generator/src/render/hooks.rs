//! Argo CD hook Jobs: the database migrations of the MySQL-backed services, and the SLO
//! check that fails a sync whose deploy breaks an objective; with the NetworkPolicies
//! that let them reach MySQL and Prometheus.
//!
//! The migrations are `Sync` hooks in their own wave, not `PreSync` hooks: a PreSync hook
//! runs before anything of the sync is applied, so on an environment's first sync there
//! is no MySQL, no ConfigMap and no credentials Secret yet, the Job can never succeed and
//! the environment can never be bootstrapped. In the wave after the data stores and
//! before the services, they run once MySQL is healthy and before new code starts, on
//! the first sync and every later one alike.
//!
//! Both Jobs run without an Istio sidecar: a Job whose sidecar keeps running never
//! completes. MySQL therefore also accepts plaintext on its port (see the mesh module);
//! the NetworkPolicies admit only these Jobs' labels.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, Container, EnvFromSource, PodSpec, PodTemplateSpec,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Object;
use super::argocd::{SYNC_WAVE, WAVE_MIGRATIONS};
use super::workloads::{container_security, datastore_env, pod_security, resources, tmp_volume};
use crate::catalog::{self, Datastore};
use crate::conventions::{self as conv, labels, selector};
use crate::model::{Environment, Service};

/// Annotation naming the hook phase.
pub const HOOK: &str = "argocd.argoproj.io/hook";
/// Annotation saying when Argo CD deletes a hook.
pub const HOOK_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
/// Delete the previous run when a new one starts, and a run once it succeeded; a failed
/// run stays for `kubectl logs` until the next sync.
pub const DELETE_POLICY: &str = "BeforeHookCreation,HookSucceeded";
/// Name of the SLO check Job and its image.
pub const SLO_CHECK: &str = "slo-check";
/// Component label of the migration Jobs.
const MIGRATION: &str = "migration";
/// Port of Prometheus' HTTP API.
const PROMETHEUS_PORT: u16 = 9090;

pub(super) fn render_hooks(env: &Environment) -> Vec<Object> {
    let mut out = Vec::new();
    let migrating: Vec<&Service> = env
        .services
        .iter()
        .filter(|s| s.def.datastore == Some(Datastore::Mysql))
        .collect();
    for service in &migrating {
        out.push(Object::new(
            &format!("{}-migrate", service.name()),
            "job",
            &migration(service),
        ));
    }
    if !migrating.is_empty() {
        out.push(Object::new(
            "migrations",
            "networkpolicy",
            &migrations_policy(),
        ));
    }
    if env.slos.post_sync_check.enabled {
        out.push(Object::new(SLO_CHECK, "job", &slo_check(env)));
        out.push(Object::new(
            SLO_CHECK,
            "networkpolicy",
            &slo_check_policy(env),
        ));
    }
    out
}

fn hook_meta(name: &str, component: &str, phase: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        labels: Some(labels(name, component)),
        annotations: Some(BTreeMap::from([
            (HOOK.to_owned(), phase.to_owned()),
            (HOOK_DELETE_POLICY.to_owned(), DELETE_POLICY.to_owned()),
        ])),
        ..Default::default()
    }
}

/// Pod labels and annotations of a hook Job: no sidecar.
fn pod_meta(labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        labels: Some(labels),
        annotations: Some(BTreeMap::from([(
            "sidecar.istio.io/inject".to_owned(),
            "false".to_owned(),
        )])),
        ..Default::default()
    }
}

/// `<service> migrate` with the service's image, configuration, credentials, resources
/// and security context.
fn migration(service: &Service) -> Job {
    let name = format!("{}-migrate", service.name());
    let mut meta = hook_meta(&name, MIGRATION, "Sync");
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.insert(SYNC_WAVE.to_owned(), WAVE_MIGRATIONS.to_string());
    }
    let mut pod_labels = labels(&name, MIGRATION);
    pod_labels.insert(conv::MYSQL_CLIENT_LABEL.into(), "true".into());
    let (tmp, tmp_mount) = tmp_volume();
    let container = Container {
        name: "migrate".into(),
        image: Some(conv::image_name(service.name())),
        image_pull_policy: Some("Always".into()),
        args: Some(vec!["migrate".into()]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: service.name().to_owned(),
                optional: Some(false),
            }),
            ..Default::default()
        }]),
        env: Some(datastore_env(service.name(), service.def.datastore)),
        resources: Some(resources(&service.resources)),
        security_context: Some(container_security(conv::APP_UID)),
        volume_mounts: Some(vec![tmp_mount]),
        ..Default::default()
    };
    Job {
        metadata: meta,
        spec: Some(JobSpec {
            // A few tries ride out MySQL finishing its start-up; ten minutes bound a
            // migration that hangs on a lock, so the sync fails instead of waiting forever.
            backoff_limit: Some(3),
            active_deadline_seconds: Some(600),
            template: PodTemplateSpec {
                metadata: Some(pod_meta(pod_labels)),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    service_account_name: Some(service.name().to_owned()),
                    automount_service_account_token: Some(false),
                    security_context: Some(pod_security(conv::APP_UID)),
                    containers: vec![container],
                    volumes: Some(vec![tmp]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `slo-check` after every sync: a breached objective exits non-zero, the hook fails and
/// so does the sync.
fn slo_check(env: &Environment) -> Job {
    let image = &env.slo_check_image;
    let reference = match &image.digest {
        Some(digest) => format!("{}:{}@{digest}", image.repository, image.tag),
        None => format!("{}:{}", image.repository, image.tag),
    };
    let container = Container {
        name: SLO_CHECK.into(),
        image: Some(reference),
        image_pull_policy: Some("Always".into()),
        args: Some(vec![
            "--env".into(),
            env.name.clone(),
            "--prometheus".into(),
            env.monitoring.prometheus_url.clone(),
            "--window".into(),
            env.slos.post_sync_check.window.to_string(),
        ]),
        resources: Some(resources(&slo_check_resources())),
        security_context: Some(container_security(conv::APP_UID)),
        ..Default::default()
    };
    Job {
        metadata: hook_meta(SLO_CHECK, SLO_CHECK, "PostSync"),
        spec: Some(JobSpec {
            // The checker retries Prometheus itself; a second pod would only repeat a
            // verdict.
            backoff_limit: Some(0),
            active_deadline_seconds: Some(300),
            template: PodTemplateSpec {
                metadata: Some(pod_meta(labels(SLO_CHECK, SLO_CHECK))),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    automount_service_account_token: Some(false),
                    security_context: Some(pod_security(conv::APP_UID)),
                    containers: vec![container],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A small, fixed footprint: the checker makes a handful of HTTP queries.
fn slo_check_resources() -> crate::model::Resources {
    let q = |s: &str| crate::model::Quantity::parse(s).expect("a valid built-in quantity");
    crate::model::Resources {
        cpu: Some(q("50m")),
        memory: q("64Mi"),
        ephemeral_storage: q("16Mi"),
        cpu_limit: Some(q("200m")),
        memory_limit: q("64Mi"),
        ephemeral_storage_limit: q("16Mi"),
    }
}

fn tcp(port: u16) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(i32::from(port))),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn egress_only(
    name: &str,
    pods: BTreeMap<String, String>,
    egress: NetworkPolicyEgressRule,
) -> NetworkPolicy {
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels(name, "network-policy")),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(pods),
                ..Default::default()
            }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(Vec::new()),
            egress: Some(vec![egress]),
        }),
    }
}

/// Migration pods reach MySQL and nothing else (DNS comes from `allow-dns`).
fn migrations_policy() -> NetworkPolicy {
    egress_only(
        "migrations",
        BTreeMap::from([(
            "app.kubernetes.io/component".to_owned(),
            MIGRATION.to_owned(),
        )]),
        NetworkPolicyEgressRule {
            to: Some(vec![NetworkPolicyPeer {
                pod_selector: Some(LabelSelector {
                    match_labels: Some(selector(catalog::MYSQL)),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ports: Some(vec![tcp(catalog::MYSQL_PORT)]),
        },
    )
}

/// The SLO check reaches Prometheus' API in the monitoring namespace and nothing else.
fn slo_check_policy(env: &Environment) -> NetworkPolicy {
    egress_only(
        SLO_CHECK,
        selector(SLO_CHECK),
        NetworkPolicyEgressRule {
            to: Some(vec![NetworkPolicyPeer {
                namespace_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([(
                        "kubernetes.io/metadata.name".to_owned(),
                        env.monitoring.namespace.clone(),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ports: Some(vec![tcp(PROMETHEUS_PORT)]),
        },
    )
}
