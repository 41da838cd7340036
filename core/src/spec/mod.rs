//! The environment file: the YAML contract a user writes, as serde types.
//!
//! Everything here is *intent*: every field is optional unless the environment cannot be
//! rendered without it, and each documents the default it falls back to. Values with units
//! (`250m`, `256Mi`, `300ms`, `99.9%`) stay strings here and are parsed, with the key that
//! held them, by [`crate::model`], so that one bad value never hides the next one.
#![warn(missing_docs)]

mod de;
mod document;
mod load;
mod locate;
mod suggest;

pub use load::sort_by_position as sort_errors;
pub use load::{ConfigError, ConfigErrors, Loaded, MAX_FILE_BYTES, load, load_bytes, load_str};
pub use locate::KeyIndex;
pub(crate) use suggest::{did_you_mean, unknown};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One environment file, `environments/<name>.yaml`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct EnvironmentSpec {
    /// The environment's name; must match the file name (`prod` for `prod.yaml`).
    pub name: String,
    /// Kubernetes namespace the store runs in, a DNS-1123 label.
    pub namespace: String,
    /// API server URL Argo CD deploys to. Default: `https://kubernetes.default.svc`.
    pub cluster: Option<String>,
    /// Where Argo CD reads this environment's rendered tree from.
    pub git: Option<GitSpec>,
    /// How Argo CD syncs this environment.
    pub sync: Option<SyncSpec>,
    /// Container images of the bundled services.
    pub images: Option<ImagesSpec>,
    /// The public entry point: only the frontend is exposed.
    pub ingress: Option<IngressSpec>,
    /// Istio service mesh settings.
    pub mesh: Option<MeshSpec>,
    /// Where credentials come from; never a plaintext value.
    pub secrets: Option<SecretsSpec>,
    /// Settings every stateless service gets unless it says otherwise.
    pub defaults: Option<ServiceSpec>,
    /// Per-service overrides, keyed by service name (`frontend`, `users`, `products`,
    /// `orders`, `cart`).
    pub services: Option<BTreeMap<String, ServiceSpec>>,
    /// The data stores: MySQL (MariaDB) and Redis.
    pub data: Option<DataSpec>,
    /// Where Prometheus and Grafana live.
    pub monitoring: Option<MonitoringSpec>,
    /// Service level objectives, alerts and the post-sync check.
    pub slos: Option<SlosSpec>,
    /// Fault-injection experiments (chaos tests).
    pub chaos: Option<ChaosSpec>,
}

/// Git source of the rendered tree.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct GitSpec {
    /// Repository URL. Default: `https://github.com/example/kubestore.git`.
    pub repo: Option<String>,
    /// Branch, tag or commit Argo CD follows. Default: `main`.
    pub revision: Option<String>,
    /// Folder of the rendered tree inside the repository. Default: `gitops`.
    pub path: Option<String>,
}

/// Argo CD sync policy.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct SyncSpec {
    /// Sync automatically on every commit, with prune and self-heal. Default: `true`.
    pub automated: Option<bool>,
}

/// Image references. The image of a service is `<registry>/<service>:<tag>`, pinned to a
/// digest where one is given.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ImagesSpec {
    /// Registry and path prefix. Default: `ghcr.io/example/kubestore`.
    pub registry: Option<String>,
    /// Image tag of every service, required (no default: what runs must never depend on
    /// the generator's version). `latest` is refused unless `allow_mutable_tag` is set.
    pub tag: Option<String>,
    /// `sha256:` digests per service, and for the `mysql`, `redis` and `slo-check` images;
    /// a pinned image ignores the tag.
    pub digests: Option<BTreeMap<String, String>>,
    /// Accept a mutable tag such as `latest` (for throw-away environments). Default: `false`.
    pub allow_mutable_tag: Option<bool>,
}

/// Public entry point.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct IngressSpec {
    /// Host name the frontend answers on. Default: `<name>.shop.example.com`.
    pub host: Option<String>,
    /// Name of the TLS Secret the ingress gateway serves. Default: `<namespace>-tls`.
    pub tls_credential: Option<String>,
}

/// Service mesh settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct MeshSpec {
    /// Mutual TLS between workloads: `strict` or `permissive`. Default: `strict`.
    pub mtls: Option<String>,
    /// Which layer retries failed calls: `mesh` (Istio; the services' own retries are
    /// turned off) or `app` (the services retry; Istio does not). Default: `mesh`.
    pub retries_in: Option<String>,
}

/// Credentials source.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct SecretsSpec {
    /// `external-secrets` or `sealed-secrets`.
    pub provider: Option<String>,
    /// external-secrets: name of the SecretStore (or ClusterSecretStore) to read from.
    pub store: Option<String>,
    /// external-secrets: `SecretStore` or `ClusterSecretStore`. Default: `ClusterSecretStore`.
    pub store_kind: Option<String>,
    /// external-secrets: remote reference per credential, `path#property`.
    pub keys: Option<BTreeMap<String, String>>,
    /// sealed-secrets: the encrypted value per credential (output of `kubeseal`).
    pub encrypted: Option<BTreeMap<String, String>>,
}

/// Settings of a stateless service. In `defaults` they apply to every service.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ServiceSpec {
    /// Replica range. `min == max` runs a fixed count without an autoscaler.
    pub replicas: Option<ReplicasSpec>,
    /// Average CPU utilisation (of the request) the autoscaler aims at, e.g. `50%`.
    pub cpu_target: Option<String>,
    /// Resource requests (and limits) of the service's container.
    pub resources: Option<ResourcesSpec>,
    /// Rolling update settings.
    pub rollout: Option<RolloutSpec>,
    /// How long a pod keeps serving after SIGTERM (`DRAIN_SECONDS`), e.g. `5s`.
    pub drain: Option<String>,
    /// PodDisruptionBudget.
    pub disruption: Option<DisruptionSpec>,
    /// `RUST_LOG` filter of the service. Default: `info`.
    pub log_level: Option<String>,
    /// Timeouts, retries and circuit breaking of calls *to* this service.
    pub resilience: Option<ResilienceSpec>,
}

/// Replica range.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ReplicasSpec {
    /// Fewest replicas.
    pub min: Option<u32>,
    /// Most replicas (at most 1000).
    pub max: Option<u32>,
}

/// Requests, with limits derived from them unless given.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ResourcesSpec {
    /// CPU request, e.g. `250m` or `0.5`. `0` means no request (and no CPU autoscaling).
    pub cpu: Option<String>,
    /// Memory request, e.g. `256Mi`.
    pub memory: Option<String>,
    /// Ephemeral storage request, e.g. `64Mi`.
    pub ephemeral_storage: Option<String>,
    /// Limits. Default: CPU 4x the request, memory and ephemeral storage equal to the request.
    pub limits: Option<LimitsSpec>,
}

/// Resource limits.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct LimitsSpec {
    /// CPU limit.
    pub cpu: Option<String>,
    /// Memory limit.
    pub memory: Option<String>,
    /// Ephemeral storage limit.
    pub ephemeral_storage: Option<String>,
}

/// Rolling update settings; `maxUnavailable` is always 0.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct RolloutSpec {
    /// Extra pods during a rollout: a count or a percentage. Default: `25%`.
    pub max_surge: Option<String>,
}

/// PodDisruptionBudget: give exactly one of the two.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct DisruptionSpec {
    /// Pods that must stay up during voluntary disruptions (a count below `replicas.min`).
    pub min_available: Option<u32>,
    /// Pods that may be down at once. Default: `1`.
    pub max_unavailable: Option<u32>,
}

/// Resilience of the calls to a service.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ResilienceSpec {
    /// Route timeout, the whole request including retries, e.g. `2s`.
    pub timeout: Option<String>,
    /// Retries of idempotent requests.
    pub retries: Option<RetriesSpec>,
    /// Outlier detection: ejecting failing pods.
    pub circuit_breaker: Option<CircuitBreakerSpec>,
    /// Connection pool limits.
    pub connection_pool: Option<ConnectionPoolSpec>,
}

/// Retries.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct RetriesSpec {
    /// Retries after the first attempt; `0` turns retries off.
    pub attempts: Option<u32>,
    /// Timeout of each try; the first try and its retries, (attempts + 1) x
    /// per_try_timeout, must fit in the route timeout.
    pub per_try_timeout: Option<String>,
    /// Envoy retry conditions. Default:
    /// `connect-failure,refused-stream,unavailable,cancelled,5xx`.
    pub retry_on: Option<String>,
}

/// Circuit breaker (outlier detection).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct CircuitBreakerSpec {
    /// Consecutive 5xx answers that eject a pod.
    pub consecutive_5xx: Option<u32>,
    /// How often pods are checked, e.g. `10s`.
    pub interval: Option<String>,
    /// Base ejection time, e.g. `30s`.
    pub ejection: Option<String>,
    /// Most pods ejected at once, e.g. `50%`.
    pub max_ejected: Option<String>,
}

/// Connection pool limits.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ConnectionPoolSpec {
    /// Most TCP connections to the service, per client pod.
    pub max_connections: Option<u32>,
    /// Most requests waiting for a connection.
    pub max_pending: Option<u32>,
    /// Requests per connection before it is recycled; `0` means unlimited.
    pub max_requests_per_connection: Option<u32>,
}

/// The data stores.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct DataSpec {
    /// MySQL (MariaDB): one database per service.
    pub mysql: Option<StoreSpec>,
    /// Redis with AOF persistence: the carts.
    pub redis: Option<StoreSpec>,
}

/// A stateful store.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct StoreSpec {
    /// Size of the data volume, e.g. `20Gi`.
    pub storage: Option<String>,
    /// StorageClass of the volume. Default: the cluster's default class.
    pub storage_class: Option<String>,
    /// Resource requests of the store's container.
    pub resources: Option<ResourcesSpec>,
}

/// Monitoring stack.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct MonitoringSpec {
    /// Namespace Prometheus scrapes from. Default: `monitoring`.
    pub namespace: Option<String>,
    /// Prometheus URL the post-sync SLO check queries: a Service of the cluster,
    /// `http[s]://<service>.<namespace>.svc[.cluster.local][:<port>][/<path>]`, since the
    /// check's NetworkPolicy admits it by namespace and port.
    /// Default: `http://prometheus-operated.<namespace>.svc:9090`.
    pub prometheus_url: Option<String>,
    /// Grafana folder the dashboards land in. Default: `KubeStore`.
    pub grafana_folder: Option<String>,
}

/// Service level objectives.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct SlosSpec {
    /// Compliance window: `30d`, `28d` or `7d`. Default: `30d`.
    pub window: Option<String>,
    /// SLI source: `mesh` (Istio's metrics) or `app` (the services' own). Default: `app`.
    pub source: Option<String>,
    /// Objectives every service gets unless it says otherwise.
    pub defaults: Option<SloSpec>,
    /// Per-service objectives.
    pub services: Option<BTreeMap<String, SloSpec>>,
    /// The SLO check Argo CD runs after each sync.
    pub post_sync_check: Option<PostSyncCheckSpec>,
}

/// Objectives of one service. In `slos.defaults` they apply to every service; each field
/// of `slos.services.<name>` overrides the same field of `slos.defaults`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct SloSpec {
    /// Share of requests answered without a 5xx, strictly between 0% and 100%.
    /// Default: `99.9%`.
    pub availability: Option<String>,
    /// Latency objective. Default: `{threshold: 250ms, target: 99%}`.
    pub latency: Option<LatencySloSpec>,
    /// Request rate below which burn-rate alerts do not page, `<number>/s`, e.g. `0.5/s`;
    /// `0/s` pages at any traffic. Default: `0.5/s`.
    pub min_request_rate: Option<String>,
    /// Which alert tiers are on. Default: all of them.
    pub alerts: Option<AlertsSpec>,
    /// Compliance window of this service's SLOs: `30d`, `28d` or `7d`.
    /// Default: `slos.window`.
    pub window: Option<String>,
    /// SLI source of this service's SLOs: `mesh` or `app`. Default: `slos.source`.
    pub source: Option<String>,
    /// The service answers (with less) when a dependency fails, so its availability may
    /// exceed the product of its dependencies' objectives without a warning.
    /// Default: `false`.
    pub degrades_gracefully: Option<bool>,
}

/// Latency objective: `target` of requests faster than `threshold`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct LatencySloSpec {
    /// Threshold; one of the latency histogram's bucket bounds, e.g. `250ms`. `app`:
    /// 5ms 10ms 25ms 50ms 100ms 250ms 500ms 1s 2500ms 5s 10s; `mesh` (Istio's default
    /// buckets): 1ms 5ms 10ms 25ms 50ms 100ms 250ms 500ms 1s 2500ms 5s 10s 30s 1m 5m 10m 30m
    /// 1h. Default: `250ms`.
    pub threshold: Option<String>,
    /// Share of requests under the threshold, strictly between 0% and 100%.
    /// Default: `99%`.
    pub target: Option<String>,
    /// Alert tiers of the latency SLO alone; each flag left out follows the service's
    /// `alerts`. Default: the service's `alerts`.
    pub alerts: Option<AlertsSpec>,
    /// Low-traffic floor of the latency SLO alone, e.g. `0.5/s`.
    /// Default: the service's `min_request_rate`.
    pub min_request_rate: Option<String>,
}

/// Alert tiers.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct AlertsSpec {
    /// Fast-burn alerts that page. Default: `true`.
    pub page: Option<bool>,
    /// Slow-burn alerts that open a ticket. Default: `true`.
    pub ticket: Option<bool>,
    /// An alert when the SLI's series disappear. Default: `true`.
    pub absent: Option<bool>,
}

/// The post-sync SLO check.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct PostSyncCheckSpec {
    /// Run the check after each sync. Default: `true`.
    pub enabled: Option<bool>,
    /// Window the check measures, e.g. `10m`. Default: `10m`.
    pub window: Option<String>,
}

/// Fault injection.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ChaosSpec {
    /// Whether this environment accepts fault injection at all. Default: `false`;
    /// `prod` (and `production`) never do.
    pub allowed: Option<bool>,
    /// The experiments.
    pub experiments: Option<Vec<ExperimentSpec>>,
}

/// One fault-injection experiment.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ExperimentSpec {
    /// Name of the experiment, a DNS-1123 label.
    pub name: String,
    /// Service whose inbound requests get the fault.
    pub service: String,
    /// Path prefix the fault applies to. Default: every route.
    pub route: Option<String>,
    /// Delay a share of requests.
    pub delay: Option<DelaySpec>,
    /// Abort a share of requests with a status.
    pub abort: Option<AbortSpec>,
}

/// Injected delay.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct DelaySpec {
    /// The delay, e.g. `2s`.
    pub fixed: String,
    /// Share of requests delayed, 0 to 100.
    pub percent: f64,
}

/// Injected abort.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct AbortSpec {
    /// HTTP status answered.
    pub status: u16,
    /// Share of requests aborted, 0 to 100.
    pub percent: f64,
}
