//! The metric names the store's services export and the SLOs are computed from. The
//! services register these names; the rules, dashboards and `slo-check` select them.

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
