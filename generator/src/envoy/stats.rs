//! Which Envoy statistics the sidecars keep, and how their names become Prometheus labels.
//!
//! Istio's sidecars drop most `cluster.*` statistics unless the pod's ProxyConfig
//! (`proxyStatsMatcher`) includes them, so a dashboard panel reading
//! `envoy_cluster_upstream_rq_retry` stays empty in a real mesh unless the pods ask for it.
//! [`MESH_STATS`] is the one list: the pods' `proxy.istio.io/config` annotation and the
//! local sidecars' `stats_matcher` are both written from it, so a panel that fills locally
//! fills in the mesh, and a test checks that it names exactly the `envoy_*` series the
//! dashboards and alerts read.

use serde_json::{Value, json};

/// One Envoy statistic the dashboards or alerts read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeshStat {
    /// Suffix of the Envoy statistic name (`cluster.<name>;.<suffix>`, or
    /// `http.<stat_prefix>;.<suffix>` for a listener's filters): what Istio's
    /// `inclusionSuffixes` and the local `stats_matcher` match.
    pub suffix: &'static str,
    /// The Prometheus series it becomes once Istio's tags are extracted.
    pub series: &'static str,
    /// Envoy creates the statistic only when it first counts (a per-status-code counter),
    /// so its series is absent until then and a panel needs a zero fallback; every other
    /// statistic exists, at zero, as soon as its cluster or listener does.
    pub on_first_use: bool,
}

impl MeshStat {
    const fn new(suffix: &'static str, series: &'static str) -> Self {
        Self {
            suffix,
            series,
            on_first_use: false,
        }
    }
}

/// Retries a client sidecar sent (`cluster.<name>;.upstream_rq_retry`).
pub const RETRIES: MeshStat = MeshStat::new("upstream_rq_retry", "envoy_cluster_upstream_rq_retry");
/// Requests given up after the route's last retry: Istio's response flag `URX`.
pub const RETRY_LIMIT_EXCEEDED: MeshStat = MeshStat::new(
    "upstream_rq_retry_limit_exceeded",
    "envoy_cluster_upstream_rq_retry_limit_exceeded",
);
/// Endpoints outlier detection holds ejected (a gauge).
pub const EJECTIONS_ACTIVE: MeshStat = MeshStat::new(
    "outlier_detection.ejections_active",
    "envoy_cluster_outlier_detection_ejections_active",
);
/// Requests refused at the pending-request or request limit: response flag `UO`.
pub const PENDING_OVERFLOW: MeshStat = MeshStat::new(
    "upstream_rq_pending_overflow",
    "envoy_cluster_upstream_rq_pending_overflow",
);
/// Connections not opened at the connection limit (their requests wait as pending).
pub const CONNECTION_OVERFLOW: MeshStat =
    MeshStat::new("upstream_cx_overflow", "envoy_cluster_upstream_cx_overflow");
/// Requests with no healthy endpoint left to send to: response flag `UH`.
pub const NO_HEALTHY_UPSTREAM: MeshStat = MeshStat::new(
    "upstream_cx_none_healthy",
    "envoy_cluster_upstream_cx_none_healthy",
);
/// Requests a client sidecar sent to a destination, every answer.
pub const REQUESTS: MeshStat =
    MeshStat::new("upstream_rq_total", "envoy_cluster_upstream_rq_total");
/// 503 answers from a destination; Istio's `response_code` tag takes the code off the name
/// (`envoy_cluster_upstream_rq{response_code="503"}`).
pub const ANSWERED_503: MeshStat = MeshStat {
    suffix: "upstream_rq_503",
    series: "envoy_cluster_upstream_rq",
    on_first_use: true,
};
/// Requests the fault filter aborted: response flag `FI`. Istio's
/// `http_conn_manager_prefix` tag takes the listener's stat prefix
/// (`outbound_0.0.0.0_<port>`) off the name.
pub const FAULT_ABORTS: MeshStat =
    MeshStat::new("fault.aborts_injected", "envoy_http_fault_aborts_injected");
/// Requests the fault filter delayed: response flag `DI`.
pub const FAULT_DELAYS: MeshStat =
    MeshStat::new("fault.delays_injected", "envoy_http_fault_delays_injected");

/// The Envoy statistics the dashboards and alerts read, beyond Istio's defaults.
pub const MESH_STATS: &[MeshStat] = &[
    RETRIES,
    RETRY_LIMIT_EXCEEDED,
    EJECTIONS_ACTIVE,
    PENDING_OVERFLOW,
    CONNECTION_OVERFLOW,
    NO_HEALTHY_UPSTREAM,
    REQUESTS,
    ANSWERED_503,
    FAULT_ABORTS,
    FAULT_DELAYS,
];

/// Prefixes Istio's bootstrap always keeps (`tools/packaging/common/envoy_bootstrap.json`
/// and `pkg/bootstrap/config.go`): its own telemetry, and the server and managers' health.
const ISTIO_PREFIXES: &[&str] = &[
    "reporter=",
    "component",
    "istio",
    "cluster_manager",
    "listener_manager",
    "server",
    "cluster.xds-grpc",
    "wasm",
];
/// Suffixes Istio's bootstrap always keeps (authorization decisions).
const ISTIO_SUFFIXES: &[&str] = &[
    "rbac.allowed",
    "rbac.denied",
    "shadow_allowed",
    "shadow_denied",
];
/// Regexes Istio's bootstrap always keeps (per-route stats of virtual clusters).
const ISTIO_REGEXES: &[&str] = &[r"vhost\..*\.route\..*"];

/// The ProxyConfig fragment the pods carry in `proxy.istio.io/config`.
pub fn proxy_stats_matcher() -> Value {
    json!({
        "inclusionSuffixes": MESH_STATS.iter().map(|s| s.suffix).collect::<Vec<_>>(),
    })
}

/// Envoy's `stats_matcher`: what Istio keeps by default plus [`MESH_STATS`], as istiod
/// would write it for a pod with [`proxy_stats_matcher`].
pub fn stats_matcher() -> Value {
    let mut patterns: Vec<Value> = ISTIO_PREFIXES
        .iter()
        .map(|p| json!({"prefix": p}))
        .collect();
    patterns.extend(ISTIO_SUFFIXES.iter().map(|s| json!({"suffix": s})));
    patterns.extend(MESH_STATS.iter().map(|s| json!({"suffix": s.suffix})));
    patterns.extend(
        ISTIO_REGEXES
            .iter()
            .map(|r| json!({"safe_regex": {"regex": r}})),
    );
    json!({"inclusion_list": {"patterns": patterns}})
}

/// Istio's tag extraction. Envoy's defaults split a cluster name at its first dot
/// (`cluster_name="outbound|8082||products"`); Istio's regexes take everything up to the
/// `;` that ends each `alt_stat_name`, so the label holds the whole
/// `outbound|8082||products.<namespace>.svc.cluster.local`. In each regex the first group
/// is removed from the name and the second becomes the label's value.
pub fn stats_tags() -> Value {
    let tags = [
        ("cluster_name", r"^cluster(\.(.+);)"),
        (
            "http_conn_manager_prefix",
            r"^http\.(((?:[_.[:digit:]\w]*|[_\[\]aAbBcCdDeEfF[:digit:]\w\:]*));\.)",
        ),
        ("response_code", r"_rq(_(\d{3}))$"),
        ("response_code_class", r"_rq(_(\dxx))$"),
        (
            "listener_address",
            r"^listener\.(((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\.)",
        ),
    ];
    Value::Array(
        tags.iter()
            .map(|(name, regex)| json!({"tag_name": name, "regex": regex}))
            .collect(),
    )
}
