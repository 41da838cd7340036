//! Argo CD hook Jobs: the database migrations of the MySQL-backed services, and the SLO
//! check that fails a sync whose deploy breaks an objective; with the NetworkPolicies
//! that let them reach MySQL and Prometheus.
//!
//! The SLO check reads the environment's OpenSLO documents from a ConfigMap rendered
//! here (the same documents as `slo/<env>/`), soaks for the post-sync window, and exits
//! with the codes of `kubestore_core::slo_check::exit`: the Job's `podFailurePolicy`
//! retries "Prometheus could not be asked" (3) a few times and fails at once on a
//! breach (1), bad definitions (2) or no data (4). Its verdict line becomes the pod's
//! termination message, which Argo CD shows on the failed hook.
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

use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapEnvSource, ConfigMapVolumeSource, Container, EnvFromSource, PodSpec,
    PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubestore_core::catalog::{self, Datastore};
use kubestore_core::conventions::{self as conv, SLO_CHECK, labels, selector};
use kubestore_core::defaults;
use kubestore_core::model::{Environment, Service};
use kubestore_core::slo_check::{exit, flags};

use super::Object;
use super::argocd::{SYNC_WAVE, WAVE_MIGRATIONS};
use super::openslo::render_openslo;
use super::workloads::{container_security, datastore_env, pod_security, resources, tmp_volume};

/// Annotation naming the hook phase.
pub const HOOK: &str = "argocd.argoproj.io/hook";
/// Annotation saying when Argo CD deletes a hook.
pub const HOOK_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
/// Delete the previous run when a new one starts, and a run once it succeeded; a failed
/// run stays for `kubectl logs` until the next sync.
pub const DELETE_POLICY: &str = "BeforeHookCreation,HookSucceeded";
/// Component label of the migration Jobs.
const MIGRATION: &str = "migration";
/// Where the SLO check finds its OpenSLO documents.
const SLOS_DIR: &str = "/etc/slo-check/slos";
/// The file whose content Kubernetes keeps as the container's termination message.
const TERMINATION_LOG: &str = "/dev/termination-log";
/// Pods the SLO check may start when Prometheus cannot be asked (exit 3).
const SLO_CHECK_RETRIES: i32 = 2;
/// Time for a pod to start and for the last evaluation after the soak (its deadline is
/// slo-check's default `--timeout`, 60s), per pod.
const SLO_CHECK_SLACK_SECONDS: i64 = 120;
/// Label Prometheus Operator puts on the Prometheus pods.
const PROMETHEUS_POD_LABEL: (&str, &str) = (conv::NAME_LABEL, "prometheus");

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
        out.push(Object::new(SLO_CHECK, "configmap", &slo_definitions(env)));
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

/// The environment's OpenSLO documents, one key per SLO, for the check to mount. An
/// ordinary object rather than a hook: a hook ConfigMap would be deleted as soon as it
/// "succeeded", possibly before the Job's pod mounts it.
fn slo_definitions(env: &Environment) -> ConfigMap {
    let data = render_openslo(env)
        .into_iter()
        .map(|(file, document)| {
            let text = serde_saphyr::to_string(&document).expect("OpenSLO documents serialize");
            (file, text)
        })
        .collect();
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(SLO_CHECK.to_owned()),
            labels: Some(labels(SLO_CHECK, SLO_CHECK)),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

fn flag(name: &str) -> String {
    format!("--{name}")
}

fn exit_codes(action: &str, values: Vec<i32>) -> PodFailurePolicyRule {
    PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
            container_name: Some(SLO_CHECK.into()),
            operator: "In".into(),
            values,
        }),
        ..Default::default()
    }
}

/// `slo-check` after every sync: it soaks for the post-sync window, judging the traffic
/// since the sync; a breached objective exits non-zero, the hook fails and so does the
/// sync.
fn slo_check(env: &Environment) -> Job {
    let image = &env.slo_check_image;
    let reference = match &image.digest {
        Some(digest) => format!("{}:{}@{digest}", image.repository, image.tag),
        None => format!("{}:{}", image.repository, image.tag),
    };
    let soak = env.slos.post_sync_check.window;
    let (tmp, tmp_mount) = tmp_volume();
    let container = Container {
        name: SLO_CHECK.into(),
        image: Some(reference),
        image_pull_policy: Some("Always".into()),
        args: Some(vec![
            flag(flags::SLOS),
            SLOS_DIR.into(),
            flag(flags::PROMETHEUS),
            env.monitoring.prometheus_url.clone(),
            flag(flags::SOAK),
            soak.to_string(),
            flag(flags::TERMINATION_LOG),
            TERMINATION_LOG.into(),
        ]),
        resources: Some(resources(&slo_check_resources())),
        security_context: Some(container_security(conv::APP_UID)),
        termination_message_path: Some(TERMINATION_LOG.into()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "slos".into(),
                mount_path: SLOS_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            },
            tmp_mount,
        ]),
        ..Default::default()
    };
    let per_pod = soak.seconds_ceil() as i64 + SLO_CHECK_SLACK_SECONDS;
    Job {
        metadata: hook_meta(SLO_CHECK, SLO_CHECK, "PostSync"),
        spec: Some(JobSpec {
            backoff_limit: Some(SLO_CHECK_RETRIES),
            // Every pod the policy may start gets its whole soak.
            active_deadline_seconds: Some(per_pod * i64::from(SLO_CHECK_RETRIES + 1)),
            pod_failure_policy: Some(PodFailurePolicy {
                rules: vec![
                    exit_codes("FailJob", vec![exit::BREACHED, exit::USAGE, exit::NO_DATA]),
                    exit_codes("Count", vec![exit::UNREACHABLE]),
                    // An evicted or preempted pod says nothing about the SLOs.
                    PodFailurePolicyRule {
                        action: "Ignore".into(),
                        on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                            type_: "DisruptionTarget".into(),
                            status: "True".into(),
                        }]),
                        ..Default::default()
                    },
                ],
            }),
            template: PodTemplateSpec {
                metadata: Some(pod_meta(labels(SLO_CHECK, SLO_CHECK))),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    automount_service_account_token: Some(false),
                    security_context: Some(pod_security(conv::APP_UID)),
                    containers: vec![container],
                    volumes: Some(vec![
                        Volume {
                            name: "slos".into(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: SLO_CHECK.into(),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        tmp,
                    ]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A small, fixed footprint: the checker makes a handful of HTTP queries.
fn slo_check_resources() -> kubestore_core::model::Resources {
    let q = |s: &str| kubestore_core::model::Quantity::parse(s).expect("a valid built-in quantity");
    kubestore_core::model::Resources {
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
        BTreeMap::from([(conv::COMPONENT_LABEL.to_owned(), MIGRATION.to_owned())]),
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

/// The SLO check reaches the Service its Prometheus URL names, and nothing else: that
/// namespace, on that port; within it only the Prometheus pods when the Service is
/// Prometheus Operator's, whose pods' labels are known.
fn slo_check_policy(env: &Environment) -> NetworkPolicy {
    let prometheus = &env.monitoring.prometheus;
    let pods = (prometheus.name == defaults::PROMETHEUS_SERVICE).then(|| LabelSelector {
        match_labels: Some(BTreeMap::from([(
            PROMETHEUS_POD_LABEL.0.to_owned(),
            PROMETHEUS_POD_LABEL.1.to_owned(),
        )])),
        ..Default::default()
    });
    egress_only(
        SLO_CHECK,
        selector(SLO_CHECK),
        NetworkPolicyEgressRule {
            to: Some(vec![NetworkPolicyPeer {
                namespace_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([(
                        "kubernetes.io/metadata.name".to_owned(),
                        prometheus.namespace.clone(),
                    )])),
                    ..Default::default()
                }),
                pod_selector: pods,
                ..Default::default()
            }]),
            ports: Some(vec![tcp(prometheus.port)]),
        },
    )
}
