//! Delivery with Argo CD: an app-of-apps whose root Application (applied once by hand)
//! owns the store's AppProject and one Application per environment, and the sync waves
//! that order a sync inside each environment.
//!
//! Sync waves, lowest first (Argo CD waits for a wave to be healthy before the next):
//!
//! | wave | what |
//! |---|---|
//! | -3 | the Namespace |
//! | -2 | configuration: ServiceAccounts, ConfigMaps, credentials, NetworkPolicies, PeerAuthentication and AuthorizationPolicies (so no pod ever runs unprotected) |
//! | -1 | the data stores: MySQL and Redis |
//! | 0 | the migration Jobs (Sync hooks), once MySQL is up and before the new code runs |
//! | 1 | the services: Deployments, Services, autoscalers, disruption budgets |
//! | 2 | the mesh's routing and the ingress: Gateway, VirtualServices, DestinationRules, and monitoring |

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubestore_core::conventions::labels;
use kubestore_core::defaults;
use kubestore_core::model::Environment;
use serde_json::Value;

use super::Object;
use crate::crds::Custom;
use crate::crds::argocd::{
    AppProjectSpec, ApplicationSpec, Automated, Backoff, Destination, GroupKind, IgnoreDifference,
    Retry, Source, SyncPolicy,
};

/// Annotation that orders resources within a sync.
pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
/// Namespace Argo CD runs in, where Applications and AppProjects live.
pub const ARGOCD_NAMESPACE: &str = "argocd";
/// The store's AppProject.
pub const PROJECT: &str = "kubestore";
/// The root Application.
pub const ROOT: &str = "kubestore";
/// Deletes an Application's resources with it (set on child Applications only: deleting
/// the root must never take the environments down with it).
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// Wave of the Namespace.
pub const WAVE_NAMESPACE: i32 = -3;
/// Wave of configuration and security policy.
pub const WAVE_CONFIG: i32 = -2;
/// Wave of the data stores.
pub const WAVE_DATA: i32 = -1;
/// Wave of the migration Jobs.
pub const WAVE_MIGRATIONS: i32 = 0;
/// Wave of the services.
pub const WAVE_SERVICES: i32 = 1;
/// Wave of mesh routing, ingress and monitoring.
pub const WAVE_MESH: i32 = 2;

/// The wave of an object: by kind, then by component for kinds both the stores and the
/// services have (a Service, a StatefulSet's ServiceAccount).
pub fn sync_wave(object: &Value) -> i32 {
    let kind = object["kind"].as_str().unwrap_or_default();
    let component = object["metadata"]["labels"][kubestore_core::conventions::COMPONENT_LABEL]
        .as_str()
        .unwrap_or_default();
    match kind {
        "Namespace" => WAVE_NAMESPACE,
        "ServiceAccount"
        | "ConfigMap"
        | "Secret"
        | "SealedSecret"
        | "ExternalSecret"
        | "NetworkPolicy"
        | "PeerAuthentication"
        | "AuthorizationPolicy" => WAVE_CONFIG,
        "Job" => WAVE_MIGRATIONS,
        "Gateway" | "VirtualService" | "DestinationRule" | "ServiceMonitor" | "PodMonitor"
        | "PrometheusRule" => WAVE_MESH,
        _ if component == "database" => WAVE_DATA,
        _ => WAVE_SERVICES,
    }
}

/// Adds the sync-wave annotation to an object, unless it already has one. Hooks are
/// left alone: they set their own wave where it means something (a `PostSync` hook runs
/// after every wave anyway).
pub fn annotate_sync_wave(object: &mut Object) {
    if !object.value["metadata"]["annotations"]["argocd.argoproj.io/hook"].is_null() {
        return;
    }
    let wave = sync_wave(&object.value);
    let Some(metadata) = object
        .value
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(annotations) = annotations.as_object_mut() {
        annotations
            .entry(SYNC_WAVE)
            .or_insert_with(|| Value::String(wave.to_string()));
    }
}

fn meta(name: &str, wave: Option<i32>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(ARGOCD_NAMESPACE.to_owned()),
        labels: Some(labels(PROJECT, "delivery")),
        annotations: wave.map(|w| BTreeMap::from([(SYNC_WAVE.to_owned(), w.to_string())])),
        ..Default::default()
    }
}

fn folder(git_path: &str, rest: &str) -> String {
    format!("{}/{rest}", git_path.trim_end_matches('/'))
}

/// The Application of one environment: its overlay, synced automatically (prune and
/// self-heal) or by hand.
pub fn application(env: &Environment) -> Object {
    let mut metadata = meta(
        &kubestore_core::conventions::application_name(&env.name),
        Some(0),
    );
    metadata.finalizers = Some(vec![RESOURCES_FINALIZER.to_owned()]);
    let ignore_differences = env
        .services
        .iter()
        .filter(|s| s.replicas.autoscaled())
        .map(|s| IgnoreDifference {
            group: "apps".into(),
            kind: "Deployment".into(),
            name: s.name().to_owned(),
            json_pointers: vec!["/spec/replicas".into()],
        })
        .collect();
    let spec = ApplicationSpec {
        project: PROJECT.into(),
        source: Source {
            repo_url: env.git.repo.clone(),
            target_revision: env.git.revision.clone(),
            path: folder(&env.git.path, &crate::tree::EnvTree::of(env).overlay()),
        },
        destination: Destination {
            server: env.cluster.clone(),
            namespace: env.namespace.clone(),
        },
        sync_policy: SyncPolicy {
            automated: env.automated_sync.then_some(Automated {
                prune: true,
                self_heal: true,
            }),
            sync_options: vec![
                "CreateNamespace=true".into(),
                "ServerSideApply=true".into(),
                "RespectIgnoreDifferences=true".into(),
                // Deletions wait until everything new is healthy.
                "PruneLast=true".into(),
            ],
            retry: Retry {
                limit: 5,
                backoff: Backoff {
                    duration: "10s".into(),
                    factor: 2,
                    max_duration: "3m".into(),
                },
            },
        },
        ignore_differences,
    };
    named(&env.name, &Custom::new(metadata, spec))
}

/// An object whose file is `argocd/<file>.yaml`.
fn named(file: &str, object: &impl serde::Serialize) -> Object {
    let mut object = Object::new(file, "", object);
    object.file = file.to_owned();
    object
}

/// The AppProject: the environments' repositories, their namespaces on their clusters,
/// and the Namespace as the only cluster-scoped kind.
pub fn project(envs: &[Environment]) -> Object {
    let repos: BTreeSet<String> = envs.iter().map(|e| e.git.repo.clone()).collect();
    let destinations: BTreeSet<Destination> = envs
        .iter()
        .map(|e| Destination {
            server: e.cluster.clone(),
            namespace: e.namespace.clone(),
        })
        .collect();
    let spec = AppProjectSpec {
        description: "KubeStore: one namespace per environment".into(),
        source_repos: repos.into_iter().collect(),
        destinations: destinations.into_iter().collect(),
        cluster_resource_whitelist: vec![GroupKind {
            group: String::new(),
            kind: "Namespace".into(),
        }],
    };
    named("project", &Custom::new(meta(PROJECT, Some(-1)), spec))
}

/// The root Application, applied once by hand: it syncs the `argocd/` folder, so it owns
/// the AppProject, every environment's Application and itself. It reads the repository
/// and revision of the first environment in name order; its own project is `default`,
/// since the store's project may only deploy into the store's namespaces. It never
/// prunes: deleting an environment's file must not delete the environment unreviewed.
pub fn root(envs: &[Environment]) -> Object {
    let first = envs.iter().min_by(|a, b| a.name.cmp(&b.name));
    let (repo, revision, path) = match first {
        Some(env) => (
            env.git.repo.clone(),
            env.git.revision.clone(),
            env.git.path.clone(),
        ),
        None => (
            defaults::GIT_REPO.to_owned(),
            defaults::GIT_REVISION.to_owned(),
            defaults::GIT_PATH.to_owned(),
        ),
    };
    let spec = ApplicationSpec {
        project: "default".into(),
        source: Source {
            repo_url: repo,
            target_revision: revision,
            path: folder(&path, crate::tree::ARGOCD),
        },
        destination: Destination {
            server: defaults::CLUSTER.into(),
            namespace: ARGOCD_NAMESPACE.into(),
        },
        sync_policy: SyncPolicy {
            automated: Some(Automated {
                prune: false,
                self_heal: true,
            }),
            sync_options: vec!["ServerSideApply=true".into()],
            retry: Retry {
                limit: 5,
                backoff: Backoff {
                    duration: "10s".into(),
                    factor: 2,
                    max_duration: "3m".into(),
                },
            },
        },
        ignore_differences: Vec::new(),
    };
    named("root", &Custom::new(meta(ROOT, None), spec))
}
