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
    /// Suffix of the Envoy statistic name (`cluster.<name>;.<suffix>`).
    pub suffix: &'static str,
    /// The Prometheus series it becomes once Istio's tags are extracted.
    pub series: &'static str,
}

/// The Envoy statistics the dashboards and alerts read, beyond Istio's defaults.
pub const MESH_STATS: &[MeshStat] = &[
    MeshStat {
        suffix: "upstream_rq_retry",
        series: "envoy_cluster_upstream_rq_retry",
    },
    MeshStat {
        suffix: "outlier_detection.ejections_active",
        series: "envoy_cluster_outlier_detection_ejections_active",
    },
    MeshStat {
        suffix: "upstream_rq_pending_overflow",
        series: "envoy_cluster_upstream_rq_pending_overflow",
    },
    MeshStat {
        suffix: "upstream_cx_overflow",
        series: "envoy_cluster_upstream_cx_overflow",
    },
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
