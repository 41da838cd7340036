//! The stateless services: Namespace, ServiceAccount, ConfigMap, Deployment and Service.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort,
    EmptyDirVolumeSource, EnvFromSource, EnvVar, EnvVarSource, HTTPGetAction, Lifecycle,
    LifecycleHandler, Namespace, PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretKeySelector,
    SecurityContext, Service as KubeService, ServiceAccount, ServicePort, ServiceSpec, SleepAction,
    TopologySpreadConstraint, Volume, VolumeMount, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KubeQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubestore_core::catalog::{self, Datastore};
use kubestore_core::conventions::{self as conv, labels, selector};
use kubestore_core::defaults;
use kubestore_core::model::{CountOrPercent, Environment, RetryLayer, Service};
use kubestore_core::runtime::{HEALTHZ_PATH, READYZ_PATH, env};

use super::Object;

/// Seconds the pod waits in preStop before SIGTERM, so that endpoints and Envoy
/// configurations drop it before the process starts draining.
const PRE_STOP_SECONDS: i64 = 3;

pub(super) fn render_namespace(env: &Environment) -> Object {
    let mut labels = BTreeMap::from([
        ("istio-injection".to_owned(), "enabled".to_owned()),
        (conv::PART_OF_LABEL.to_owned(), conv::PART_OF.to_owned()),
        // Audit and warn on the restricted profile; enforcing it needs the Istio CNI
        // node agent, since the sidecar's init container otherwise needs NET_ADMIN.
        (
            "pod-security.kubernetes.io/audit".to_owned(),
            "restricted".to_owned(),
        ),
        (
            "pod-security.kubernetes.io/warn".to_owned(),
            "restricted".to_owned(),
        ),
    ]);
    labels.insert(conv::ENVIRONMENT_LABEL.into(), env.name.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(env.namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        ..Default::default()
    };
    Object::new(&env.namespace, "namespace", &ns)
}

pub(super) fn render_workloads(env: &Environment) -> Vec<Object> {
    let mut out = Vec::new();
    for service in &env.services {
        let name = service.name();
        out.push(Object::new(
            name,
            "serviceaccount",
            &service_account(name, "service"),
        ));
        out.push(Object::new(name, "configmap", &config_map(env, service)));
        out.push(Object::new(name, "deployment", &deployment(service)));
        out.push(Object::new(name, "service", &kube_service(service)));
    }
    out
}

pub(super) fn meta(name: &str, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        labels: Some(labels(name, component)),
        ..Default::default()
    }
}

pub(super) fn service_account(name: &str, component: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(name, component),
        // None of the store's pods talks to the Kubernetes API.
        automount_service_account_token: Some(false),
        ..Default::default()
    }
}

fn component(service: &Service) -> &'static str {
    if service.def.public {
        kubestore_core::conventions::PUBLIC_COMPONENT
    } else {
        kubestore_core::conventions::INTERNAL_COMPONENT
    }
}

/// The service's environment variables from the store's HTTP contract, except the
/// credentials, which the Deployment reads from Secrets.
fn config_map(env: &Environment, service: &Service) -> ConfigMap {
    let def = service.def;
    let mut data = BTreeMap::from([
        (env::LISTEN_ADDR.to_owned(), format!("0.0.0.0:{}", def.port)),
        (
            env::DRAIN_SECONDS.to_owned(),
            service.drain.seconds_ceil().to_string(),
        ),
        (env::RUST_LOG.to_owned(), service.log_level.clone()),
    ]);
    let callees: Vec<_> = def.calls.iter().filter_map(|c| env.service(c)).collect();
    for callee in &callees {
        data.insert(
            callee.def.url_variable(),
            format!("http://{}:{}", callee.name(), callee.def.port),
        );
    }
    if !callees.is_empty() {
        // A caller waits as long as the slowest callee's route timeout allows.
        let timeout = callees
            .iter()
            .map(|c| c.resilience.timeout)
            .max()
            .unwrap_or_default();
        data.insert(env::UPSTREAM_TIMEOUT.into(), timeout.to_string());
        // Retries at two layers multiply; only one layer retries.
        let retries = match env.mesh.retries_in {
            RetryLayer::Mesh => 0,
            RetryLayer::App => callees
                .iter()
                .map(|c| c.resilience.retries.attempts)
                .max()
                .unwrap_or(0),
        };
        data.insert(env::UPSTREAM_RETRIES.into(), retries.to_string());
    }
    if def.datastore == Some(Datastore::Redis) {
        data.insert(env::CART_IDLE_TTL.into(), defaults::CART_IDLE_TTL.into());
    }
    if def.stores_idempotency_keys() {
        data.insert(
            env::IDEMPOTENCY_KEY_TTL.into(),
            defaults::IDEMPOTENCY_KEY_TTL.into(),
        );
    }
    if def.public {
        // Shoppers only reach the entry point through the gateway's HTTPS listener.
        data.insert(env::COOKIE_SECURE.into(), "true".into());
    }
    ConfigMap {
        metadata: meta(def.name, component(service)),
        data: Some(data),
        ..Default::default()
    }
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn value_env(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value),
        ..Default::default()
    }
}

/// Credentials come from Secrets; the URLs embed them through Kubernetes' `$(VAR)`
/// expansion, so no plaintext password is ever rendered.
pub(super) fn datastore_env(service: &str, datastore: Option<Datastore>) -> Vec<EnvVar> {
    match datastore {
        Some(Datastore::Mysql) => vec![
            secret_env(
                env::DATABASE_PASSWORD,
                conv::MYSQL_SECRET,
                conv::MYSQL_SECRET_KEY,
            ),
            value_env(
                env::DATABASE_URL,
                format!(
                    "mysql://root:$({})@{}:{}/{service}",
                    env::DATABASE_PASSWORD,
                    catalog::MYSQL,
                    catalog::MYSQL_PORT
                ),
            ),
        ],
        Some(Datastore::Redis) => vec![
            secret_env(
                env::REDIS_PASSWORD,
                conv::REDIS_SECRET,
                conv::REDIS_SECRET_KEY,
            ),
            value_env(
                env::REDIS_URL,
                format!(
                    "redis://:$({})@{}:{}/0",
                    env::REDIS_PASSWORD,
                    catalog::REDIS,
                    catalog::REDIS_PORT
                ),
            ),
        ],
        None => Vec::new(),
    }
}

pub(super) fn quantity(q: &kubestore_core::model::Quantity) -> KubeQuantity {
    KubeQuantity(q.as_str().to_owned())
}

pub(super) fn resources(r: &kubestore_core::model::Resources) -> ResourceRequirements {
    let mut requests = BTreeMap::from([
        ("memory".to_owned(), quantity(&r.memory)),
        (
            "ephemeral-storage".to_owned(),
            quantity(&r.ephemeral_storage),
        ),
    ]);
    let mut limits = BTreeMap::from([
        ("memory".to_owned(), quantity(&r.memory_limit)),
        (
            "ephemeral-storage".to_owned(),
            quantity(&r.ephemeral_storage_limit),
        ),
    ]);
    if let Some(cpu) = &r.cpu {
        requests.insert("cpu".into(), quantity(cpu));
    }
    if let Some(cpu) = &r.cpu_limit {
        limits.insert("cpu".into(), quantity(cpu));
    }
    ResourceRequirements {
        requests: Some(requests),
        limits: Some(limits),
        ..Default::default()
    }
}

pub(super) fn container_security(uid: i64) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        seccomp_profile: Some(runtime_default()),
        ..Default::default()
    }
}

pub(super) fn pod_security(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        seccomp_profile: Some(runtime_default()),
        ..Default::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        ..Default::default()
    }
}

fn http_probe(path: &str, period: i32, timeout: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String(conv::HTTP_PORT_NAME.into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(timeout),
        failure_threshold: Some(failures),
        success_threshold: Some(1),
        ..Default::default()
    }
}

pub(super) fn tmp_volume() -> (Volume, VolumeMount) {
    (
        Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(KubeQuantity("32Mi".into())),
                ..Default::default()
            }),
            ..Default::default()
        },
        VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..Default::default()
        },
    )
}

/// Spread over zones and nodes, preferring one pod per node, without ever refusing to
/// schedule: a small cluster must still be able to run every replica.
pub(super) fn spreading(name: &str) -> (Vec<TopologySpreadConstraint>, Affinity) {
    let select = || LabelSelector {
        match_labels: Some(selector(name)),
        ..Default::default()
    };
    let spread = |key: &str| TopologySpreadConstraint {
        max_skew: 1,
        topology_key: key.to_owned(),
        when_unsatisfiable: "ScheduleAnyway".into(),
        label_selector: Some(select()),
        // Count only the pods of the same revision, so a rollout spreads the new pods too.
        match_label_keys: Some(vec!["pod-template-hash".into()]),
        ..Default::default()
    };
    let affinity = Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(select()),
                        topology_key: "kubernetes.io/hostname".into(),
                        ..Default::default()
                    },
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    };
    (
        vec![
            spread("topology.kubernetes.io/zone"),
            spread("kubernetes.io/hostname"),
        ],
        affinity,
    )
}

fn deployment(service: &Service) -> Deployment {
    let def = service.def;
    let name = def.name;
    let mut pod_labels = labels(name, component(service));
    match def.datastore {
        Some(Datastore::Mysql) => pod_labels.insert(conv::MYSQL_CLIENT_LABEL.into(), "true".into()),
        Some(Datastore::Redis) => pod_labels.insert(conv::REDIS_CLIENT_LABEL.into(), "true".into()),
        None => None,
    };
    let drain = service.drain.seconds_ceil() as i64;
    // preStop, then the drain, then in-flight requests finish within the route timeout.
    let grace = PRE_STOP_SECONDS + drain + service.resilience.timeout.seconds_ceil() as i64 + 5;
    let (tmp, tmp_mount) = tmp_volume();
    let (spread, affinity) = spreading(name);
    let max_surge = match service.max_surge {
        CountOrPercent::Count(n) => IntOrString::Int(n as i32),
        CountOrPercent::Percent(p) => IntOrString::String(format!("{p}%")),
    };
    let container = Container {
        name: name.to_owned(),
        image: Some(conv::image_name(name)),
        // Always: the registry re-checks pull credentials for every pod; with pinned
        // digests or immutable tags it never changes what runs.
        image_pull_policy: Some("Always".into()),
        args: Some(vec!["serve".into()]),
        ports: Some(vec![ContainerPort {
            name: Some(conv::HTTP_PORT_NAME.into()),
            container_port: i32::from(def.port),
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: name.to_owned(),
                optional: Some(false),
            }),
            ..Default::default()
        }]),
        env: Some(datastore_env(name, def.datastore)).filter(|e| !e.is_empty()),
        resources: Some(resources(&service.resources)),
        // Start-up may include a cold connection pool: allow 60 s before liveness applies.
        startup_probe: Some(http_probe(HEALTHZ_PATH, 2, 2, 30)),
        // Readiness follows the service's own database or Redis and drops at SIGTERM.
        readiness_probe: Some(http_probe(READYZ_PATH, 5, 2, 2)),
        // Liveness never touches a dependency, so a database outage restarts nothing.
        liveness_probe: Some(http_probe(HEALTHZ_PATH, 10, 3, 3)),
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: PRE_STOP_SECONDS,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        security_context: Some(container_security(conv::APP_UID)),
        volume_mounts: Some(vec![tmp_mount]),
        ..Default::default()
    };
    Deployment {
        metadata: meta(name, component(service)),
        spec: Some(DeploymentSpec {
            // An autoscaler owns the count: a `replicas` field here would fight it on every sync.
            replicas: (!service.replicas.autoscaled()).then_some(service.replicas.min as i32),
            revision_history_limit: Some(5),
            selector: LabelSelector {
                match_labels: Some(selector(name)),
                ..Default::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(max_surge),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([
                        // The app calls its dependencies as soon as it starts: the sidecar
                        // must be up first, or the first calls fail.
                        // The stats inclusions: without them Istio drops the cluster
                        // stats the resilience dashboard and alerts read.
                        (
                            "proxy.istio.io/config".to_owned(),
                            serde_json::json!({
                                "holdApplicationUntilProxyStarts": true,
                                "proxyStatsMatcher": crate::envoy::stats::proxy_stats_matcher(),
                            })
                            .to_string(),
                        ),
                    ])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(name.to_owned()),
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(grace),
                    security_context: Some(pod_security(conv::APP_UID)),
                    containers: vec![container],
                    volumes: Some(vec![tmp]),
                    topology_spread_constraints: Some(spread),
                    affinity: Some(affinity),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn kube_service(service: &Service) -> KubeService {
    let name = service.name();
    KubeService {
        metadata: meta(name, component(service)),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector(name)),
            ports: Some(vec![ServicePort {
                // Istio picks the protocol from the port name or appProtocol.
                name: Some(conv::HTTP_PORT_NAME.into()),
                app_protocol: Some("http".into()),
                port: i32::from(service.def.port),
                target_port: Some(IntOrString::String(conv::HTTP_PORT_NAME.into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}
