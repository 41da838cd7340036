//! The defaults every environment layers on: the one place where a value that an
//! environment file does not set comes from. `kubestore-gen explain <env>` prints the
//! result of layering an environment on these.

use crate::spec::{
    CircuitBreakerSpec, ConnectionPoolSpec, DisruptionSpec, ReplicasSpec, ResilienceSpec,
    ResourcesSpec, RetriesSpec, RolloutSpec, ServiceSpec,
};

/// Service settings used where neither `services.<name>` nor `defaults` says otherwise.
pub fn service() -> ServiceSpec {
    ServiceSpec {
        replicas: Some(ReplicasSpec {
            min: Some(2),
            max: Some(10),
        }),
        cpu_target: Some("50%".into()),
        resources: Some(ResourcesSpec {
            cpu: Some("250m".into()),
            memory: Some("256Mi".into()),
            ephemeral_storage: Some("64Mi".into()),
            limits: None,
        }),
        rollout: Some(RolloutSpec {
            max_surge: Some("25%".into()),
        }),
        drain: Some("5s".into()),
        disruption: Some(DisruptionSpec {
            min_available: None,
            max_unavailable: Some(1),
        }),
        log_level: Some("info".into()),
        resilience: Some(ResilienceSpec {
            timeout: Some("2s".into()),
            retries: Some(RetriesSpec {
                attempts: Some(2),
                per_try_timeout: Some("500ms".into()),
                retry_on: Some(RETRY_ON.into()),
            }),
            // Ejecting after 5 straight 5xx within 10s catches a dead pod in seconds
            // without reacting to a single slow dependency; at most half the pods go so a
            // bad deploy cannot eject the whole service.
            circuit_breaker: Some(CircuitBreakerSpec {
                consecutive_5xx: Some(5),
                interval: Some("10s".into()),
                ejection: Some("30s".into()),
                max_ejected: Some("50%".into()),
            }),
            // Istio's defaults are unlimited, which never opens the circuit. 256
            // connections and 128 queued requests per client pod are far above what one
            // store pod serves, so they only bite when a service is already drowning.
            connection_pool: Some(ConnectionPoolSpec {
                max_connections: Some(256),
                max_pending: Some(128),
                max_requests_per_connection: Some(0),
            }),
        }),
    }
}

/// Envoy retry conditions: failures where the request surely did not run, plus 5xx.
pub const RETRY_ON: &str = "connect-failure,refused-stream,unavailable,cancelled,5xx";
/// Argo CD API server URL of the cluster Argo CD runs in.
pub const CLUSTER: &str = "https://kubernetes.default.svc";
/// Repository Argo CD reads from.
pub const GIT_REPO: &str = "https://github.com/example/kubestore.git";
/// Revision Argo CD follows.
pub const GIT_REVISION: &str = "main";
/// Folder of the rendered tree in the repository.
pub const GIT_PATH: &str = "gitops";
/// Image registry and prefix.
pub const REGISTRY: &str = "ghcr.io/example/kubestore";
/// Namespace Prometheus scrapes from.
pub const MONITORING_NAMESPACE: &str = "monitoring";
/// Prometheus URL for the post-sync check.
pub const PROMETHEUS_URL: &str = "http://prometheus-operated.monitoring.svc:9090";
/// Grafana folder of the dashboards.
pub const GRAFANA_FOLDER: &str = "KubeStore";
/// Size of the MySQL volume.
pub const MYSQL_STORAGE: &str = "10Gi";
/// Size of the Redis volume.
pub const REDIS_STORAGE: &str = "1Gi";
/// How long a cart lives without a write.
pub const CART_IDLE_TTL: &str = "7d";
