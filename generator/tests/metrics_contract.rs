//! The SLO rules select the services' own metrics by exact label values, so the contract
//! between the two is tested here: the histogram buckets of `services/common` are the
//! bounds the validator accepts for `app` latency thresholds, and each bound's `le` label
//! is spelled the way prometheus-client prints it (`0.25`, `1.0`), which is what the
//! rules match.

use std::path::Path;

use kubestore_gen::model::Duration;
use kubestore_gen::model::slo::{APP_BUCKETS_MS, SliSource};
use kubestore_gen::render::slo_rules::le;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// `DURATION_BUCKETS` as written in `services/common/src/metrics.rs`, in milliseconds.
fn service_buckets_ms() -> Vec<u64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../services/common/src/metrics.rs");
    let source = std::fs::read_to_string(&path).expect("the shared metrics module");
    let start = source
        .find("DURATION_BUCKETS")
        .expect("DURATION_BUCKETS is defined");
    let list = &source[start..];
    let open = list.find("= [").expect("an array") + 3;
    let close = list[open..].find(']').expect("the array ends") + open;
    list[open..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let seconds: f64 = s.parse().expect("a number");
            (seconds * 1000.0).round() as u64
        })
        .collect()
}

#[test]
fn app_thresholds_are_the_services_histogram_buckets() {
    assert_eq!(service_buckets_ms(), APP_BUCKETS_MS);
}

#[test]
fn le_labels_match_what_prometheus_client_prints() {
    let buckets: Vec<f64> = service_buckets_ms()
        .iter()
        .map(|&ms| ms as f64 / 1000.0)
        .collect();
    let histogram = Histogram::new(buckets);
    histogram.observe(0.1);
    let mut registry = Registry::default();
    registry.register("http_request_duration_seconds", "latency", histogram);
    let mut text = String::new();
    encode(&mut text, &registry).expect("encodes");
    for &ms in APP_BUCKETS_MS {
        let label = format!("le=\"{}\"", le(SliSource::App, Duration::from_millis(ms)));
        assert!(text.contains(&label), "{label} not in\n{text}");
    }
}
