//! The defaults every environment layers on: the one place where a value that an
//! environment file does not set comes from. `kubestore-gen explain <env>` prints the
//! result of layering an environment on these.

use crate::spec::{
    AlertsSpec, CanaryStepSpec, CircuitBreakerSpec, ConnectionPoolSpec, DisruptionSpec,
    LatencySloSpec, ReleaseSpec, ReplicasSpec, ResilienceSpec, ResourcesSpec, RetriesSpec,
    RolloutSpec, ServiceSpec, SloSpec,
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
        drain: Some(DRAIN.into()),
        disruption: Some(DisruptionSpec {
            min_available: None,
            max_unavailable: Some(MAX_UNAVAILABLE),
        }),
        log_level: Some(LOG_LEVEL.into()),
        resilience: Some(ResilienceSpec {
            timeout: Some(ROUTE_TIMEOUT.into()),
            retries: Some(RetriesSpec {
                attempts: Some(RETRY_ATTEMPTS),
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
        release: Some(release()),
    }
}

/// Release settings where neither `services.<name>.release` nor `defaults.release` says
/// otherwise. Rolling, so that an environment that says nothing (dev) keeps plain
/// Deployments; the canary settings below apply once an environment chooses `canary`.
pub fn release() -> ReleaseSpec {
    ReleaseSpec {
        strategy: Some(RELEASE_ROLLING.into()),
        // A tenth of the traffic for five minutes shows a failing version to few shoppers
        // yet gives the analysis five measurements; half for ten minutes shows whether it
        // holds under load before it takes everything.
        steps: Some(vec![
            CanaryStepSpec {
                weight: 10,
                pause: "5m".into(),
            },
            CanaryStepSpec {
                weight: 50,
                pause: "10m".into(),
            },
        ]),
        analysis_interval: Some("1m".into()),
        // Below 100 requests a single error is a 1% error ratio: too few to tell a good
        // version from a bad one against a 99.9% objective.
        min_requests: Some(100),
        // None: the SLO's own page threshold, which depends on nothing a file sets.
        max_burn: None,
        max_ratio_to_stable: Some(2.0),
    }
}

/// `release.strategy` of a service updated by its Deployment.
pub const RELEASE_ROLLING: &str = "rolling";
/// `release.strategy` of a service released by an Argo Rollouts canary.
pub const RELEASE_CANARY: &str = "canary";

/// SLOs used where neither `slos.services.<name>` nor `slos.defaults` says otherwise.
pub fn slo() -> SloSpec {
    SloSpec {
        // Three nines over 30 days is 43 minutes of errors: strict enough to notice a bad
        // deploy, loose enough for a store with one MySQL primary.
        availability: Some("99.9%".into()),
        // 250ms is a bucket bound of both histograms (app and mesh), and what a page
        // render with two backend calls can meet.
        latency: Some(LatencySloSpec {
            threshold: Some("250ms".into()),
            target: Some("99%".into()),
            alerts: None,
            min_request_rate: None,
        }),
        // Below one request every two seconds a handful of failures is a large ratio:
        // such noise opens a ticket at most, it never pages.
        min_request_rate: Some("0.5/s".into()),
        alerts: Some(AlertsSpec {
            page: Some(true),
            ticket: Some(true),
            absent: Some(true),
        }),
        window: None,
        source: None,
        degrades_gracefully: Some(false),
    }
}

/// Resources of a data store's container where `data.<store>.resources` says nothing: a
/// fixed, modest footprint.
pub fn store_resources() -> ResourcesSpec {
    ResourcesSpec {
        cpu: Some("250m".into()),
        memory: Some("512Mi".into()),
        ephemeral_storage: Some("256Mi".into()),
        limits: None,
    }
}

/// The host the frontend answers on when `ingress.host` is not set.
pub fn ingress_host(environment: &str) -> String {
    format!("{environment}.shop.example.com")
}

/// The TLS Secret the ingress gateway serves when `ingress.tls_credential` is not set.
pub fn tls_credential(namespace: &str) -> String {
    format!("{namespace}-tls")
}

/// Pods of a service a node drain may take down at once, also where a `disruption`
/// table sets neither bound.
pub const MAX_UNAVAILABLE: u32 = 1;

/// Argo CD syncs automatically, with prune and self-heal.
pub const AUTOMATED_SYNC: bool = true;
/// Mutual TLS between the sidecars: `strict` or `permissive`.
pub const MESH_MTLS: &str = "strict";
/// Which layer retries: `mesh` (Istio) or `app`.
pub const MESH_RETRIES_IN: &str = "mesh";
/// Fault injection is off unless an environment allows it.
pub const CHAOS_ALLOWED: bool = false;

/// SLO compliance window.
pub const SLO_WINDOW: &str = "30d";
/// SLI source: the services' own metrics work with or without a mesh.
pub const SLO_SOURCE: &str = "app";
/// Window the post-sync SLO check measures.
pub const POST_SYNC_CHECK_WINDOW: &str = "10m";

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
/// Image tag of the base, which no environment deploys as it is: every overlay sets its
/// own `images.tag`, which has no default.
pub const BASE_IMAGE_TAG: &str = "base";
/// Image registry and prefix.
pub const REGISTRY: &str = "ghcr.io/example/kubestore";
/// Namespace Prometheus scrapes from.
pub const MONITORING_NAMESPACE: &str = "monitoring";
/// Service of the Prometheus the post-sync check asks: the one Prometheus Operator makes
/// for its Prometheus pods.
pub const PROMETHEUS_SERVICE: &str = "prometheus-operated";
/// Port of Prometheus' HTTP API.
pub const PROMETHEUS_PORT: u16 = 9090;

/// Prometheus URL for the post-sync check: Prometheus Operator's Service in the
/// monitoring namespace, so that moving the namespace moves the URL with it.
pub fn prometheus_url(monitoring_namespace: &str) -> String {
    format!("http://{PROMETHEUS_SERVICE}.{monitoring_namespace}.svc:{PROMETHEUS_PORT}")
}
/// Grafana folder of the dashboards.
pub const GRAFANA_FOLDER: &str = "KubeStore";
/// Size of the MySQL volume.
pub const MYSQL_STORAGE: &str = "10Gi";
/// Size of the Redis volume.
pub const REDIS_STORAGE: &str = "1Gi";
/// How long a pod keeps serving after SIGTERM; also a service's own `DRAIN_SECONDS`
/// default when it runs without the rendered ConfigMap.
pub const DRAIN: &str = "5s";
/// The services' log filter; also their own `RUST_LOG` default.
pub const LOG_LEVEL: &str = "info";
/// A route's timeout; also a service's own `UPSTREAM_TIMEOUT` default.
pub const ROUTE_TIMEOUT: &str = "2s";
/// Retries of a route that is safe to repeat; also a service's own `UPSTREAM_RETRIES`
/// default.
pub const RETRY_ATTEMPTS: u32 = 2;
/// How long a repeat of a keyed request waits for the first before answering 409.
pub const IDEMPOTENCY_WAIT: &str = "10s";
/// After how long an unfinished keyed request counts as abandoned.
pub const IDEMPOTENCY_LEASE: &str = "30s";
/// How long a cart lives without a write.
pub const CART_IDLE_TTL: &str = "7d";
/// How long a service that stores `Idempotency-Key` answers (cart, users, orders)
/// keeps one for repeats of it.
pub const IDEMPOTENCY_KEY_TTL: &str = "24h";
