//! Prometheus metrics served on the service port at `/metrics`:
//! `http_requests_total{service,method,route,status}`,
//! `http_request_duration_seconds{service,method,route}` (the SLO thresholds as
//! buckets), `http_requests_in_flight{service}` and `build_info{service,version}`.
//!
//! `route` is the axum route template (`/v1/products/{id}`); requests that match no
//! route share the single label [`UNMATCHED_ROUTE`], so a scan of random paths cannot
//! blow up the series count. The names and buckets come from `kubestore-core`, where
//! the SLO rules and `slo-check` read them too.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kubestore_core::metrics as names;
use kubestore_core::model::slo::APP_BUCKETS_MS;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

/// Histogram buckets in seconds: every latency threshold an SLO may name, as the SLO
/// model defines them.
pub fn duration_buckets() -> impl Iterator<Item = f64> {
    APP_BUCKETS_MS.iter().map(|&ms| ms as f64 / 1000.0)
}

/// The `route` label of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Content type of the OpenMetrics text that `/metrics` serves.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: &'static str,
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    service: &'static str,
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    service: &'static str,
    version: &'static str,
}

fn new_histogram() -> Histogram {
    Histogram::new(duration_buckets())
}

/// The registry and the request metrics of one service.
pub struct Metrics {
    service: &'static str,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
}

impl Metrics {
    /// Registers the request metrics and `build_info` for `service` at `version`.
    pub fn new(service: &'static str, version: &'static str) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        // prometheus-client appends `_total` to counters itself.
        registry.register(names::REQUESTS, "HTTP requests handled", requests.clone());
        let duration = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            new_histogram,
        );
        registry.register(
            names::REQUEST_DURATION,
            "HTTP request latency in seconds",
            duration.clone(),
        );
        let in_flight_family = Family::<ServiceLabels, Gauge>::default();
        registry.register(
            names::REQUESTS_IN_FLIGHT,
            "HTTP requests being served",
            in_flight_family.clone(),
        );
        let in_flight = in_flight_family
            .get_or_create(&ServiceLabels { service })
            .clone();
        let build_info = Family::<BuildLabels, Gauge>::default();
        registry.register(names::BUILD_INFO, "Build information", build_info.clone());
        build_info
            .get_or_create(&BuildLabels { service, version })
            .set(1);
        Self {
            service,
            registry,
            requests,
            duration,
            in_flight,
        }
    }

    /// The metrics in OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }

    fn observe(&self, method: &'static str, route: String, status: u16, seconds: f64) {
        self.duration
            .get_or_create(&RouteLabels {
                service: self.service,
                method,
                route: route.clone(),
            })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                service: self.service,
                method,
                route,
                status,
            })
            .inc();
    }
}

/// Bounded method label: unusual methods are counted together.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Decrements the in-flight gauge even if the handler's future is dropped.
struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Middleware recording the request metrics; installed by [`crate::server::finish`].
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED_ROUTE.to_owned(), |p| p.as_str().to_owned());
    metrics.in_flight.inc();
    let guard = InFlight(metrics.in_flight.clone());
    let response = next.run(req).await;
    drop(guard);
    metrics.observe(
        method,
        route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`.
pub async fn render(metrics: Arc<Metrics>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.encode()).into_response()
}
