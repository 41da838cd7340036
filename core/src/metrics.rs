//! The metric names the store's services export and the SLOs are computed from, and those
//! of the cluster (Istio, kube-state-metrics, cAdvisor) the dashboards read. The services
//! register these names; the rules, dashboards and `slo-check` select them.

/// Counter of handled requests, `{service, method, route, status}`.
pub const REQUESTS_TOTAL: &str = "http_requests_total";
/// [`REQUESTS_TOTAL`] without the `_total` suffix, which OpenMetrics clients append to
/// counters themselves.
pub const REQUESTS: &str = "http_requests";
/// Histogram of request durations in seconds, `{service, method, route}`; its buckets are
/// [`crate::model::slo::APP_BUCKETS_MS`].
pub const REQUEST_DURATION: &str = "http_request_duration_seconds";
/// Gauge of requests being handled, `{service}`.
pub const REQUESTS_IN_FLIGHT: &str = "http_requests_in_flight";
/// Gauge set to 1, `{service, version}`.
pub const BUILD_INFO: &str = "build_info";

/// Istio's standard request counter, reported by the sidecars.
pub const MESH_REQUESTS_TOTAL: &str = "istio_requests_total";
/// Istio's standard request-duration histogram, in milliseconds.
pub const MESH_REQUEST_DURATION: &str = "istio_request_duration_milliseconds";

// What a Kubernetes cluster exports about the store's workloads; the dashboards read them,
// and no one-machine stack has them.

/// kube-state-metrics: an autoscaler's current replicas, `{namespace, horizontalpodautoscaler}`.
pub const HPA_CURRENT_REPLICAS: &str = "kube_horizontalpodautoscaler_status_current_replicas";
/// kube-state-metrics: the replicas an autoscaler wants.
pub const HPA_DESIRED_REPLICAS: &str = "kube_horizontalpodautoscaler_status_desired_replicas";
/// kube-state-metrics: an autoscaler's maximum.
pub const HPA_MAX_REPLICAS: &str = "kube_horizontalpodautoscaler_spec_max_replicas";
/// kube-state-metrics: a Deployment's available replicas, `{namespace, deployment}`.
pub const DEPLOYMENT_AVAILABLE_REPLICAS: &str = "kube_deployment_status_replicas_available";
/// kube-state-metrics: a Deployment's replicas that are not available.
pub const DEPLOYMENT_UNAVAILABLE_REPLICAS: &str = "kube_deployment_status_replicas_unavailable";
/// kube-state-metrics: a Deployment's desired replicas.
pub const DEPLOYMENT_SPEC_REPLICAS: &str = "kube_deployment_spec_replicas";
/// kube-state-metrics: a container's resource requests, `{namespace, pod, resource}`.
pub const POD_RESOURCE_REQUESTS: &str = "kube_pod_container_resource_requests";
/// kube-state-metrics: a container's resource limits.
pub const POD_RESOURCE_LIMITS: &str = "kube_pod_container_resource_limits";
/// kube-state-metrics: a container's restarts (a counter).
pub const POD_RESTARTS_TOTAL: &str = "kube_pod_container_status_restarts_total";
/// cAdvisor (kubelet): CPU seconds a container used (a counter), `{namespace, pod, container}`.
pub const CONTAINER_CPU_SECONDS_TOTAL: &str = "container_cpu_usage_seconds_total";
/// cAdvisor (kubelet): a container's working set in bytes.
pub const CONTAINER_MEMORY_WORKING_SET: &str = "container_memory_working_set_bytes";
