//! A stateless service with its effective settings.

use serde::Serialize;

use super::units::{CountOrPercent, Duration, Percent, Quantity};
use crate::catalog::ServiceDef;

/// A bundled service, configured for one environment.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    /// What the catalogue knows about it.
    #[serde(serialize_with = "def_name")]
    pub def: &'static ServiceDef,
    /// Container image.
    pub image: Image,
    /// Replica range.
    pub replicas: Replicas,
    /// CPU utilisation the autoscaler aims at.
    pub cpu_target: Percent,
    /// Container resources.
    pub resources: Resources,
    /// Extra pods during a rollout.
    #[serde(serialize_with = "count_or_percent")]
    pub max_surge: CountOrPercent,
    /// Drain time after SIGTERM.
    pub drain: Duration,
    /// PodDisruptionBudget.
    pub disruption: Disruption,
    /// `RUST_LOG` filter.
    pub log_level: String,
    /// Resilience of calls to it.
    pub resilience: Resilience,
    /// How a new version is released.
    pub release: Release,
}

impl Service {
    /// The service's name.
    pub fn name(&self) -> &'static str {
        self.def.name
    }
}

/// A container image reference.
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    /// Repository, e.g. `ghcr.io/example/kubestore/users`.
    pub repository: String,
    /// Tag.
    pub tag: String,
    /// Digest that pins it, if any.
    pub digest: Option<String>,
}

/// Replica range; `min == max` means a fixed count and no autoscaler.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Replicas {
    /// Fewest.
    pub min: u32,
    /// Most.
    pub max: u32,
}

impl Replicas {
    /// Whether an autoscaler owns the replica count.
    pub fn autoscaled(self) -> bool {
        self.min < self.max
    }
}

/// Requests and limits.
#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    /// CPU request, absent when set to `0`.
    pub cpu: Option<Quantity>,
    /// Memory request.
    pub memory: Quantity,
    /// Ephemeral storage request.
    pub ephemeral_storage: Quantity,
    /// CPU limit.
    pub cpu_limit: Option<Quantity>,
    /// Memory limit.
    pub memory_limit: Quantity,
    /// Ephemeral storage limit.
    pub ephemeral_storage_limit: Quantity,
}

/// PodDisruptionBudget.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disruption {
    /// Pods that must stay up.
    MinAvailable(u32),
    /// Pods that may be down at once.
    MaxUnavailable(u32),
}

/// Resilience of the calls to a service.
#[derive(Debug, Clone, Serialize)]
pub struct Resilience {
    /// Route timeout.
    pub timeout: Duration,
    /// Retries of idempotent routes.
    pub retries: Retries,
    /// Consecutive 5xx that eject a pod.
    pub consecutive_5xx: u32,
    /// Outlier detection interval.
    pub interval: Duration,
    /// Base ejection time.
    pub ejection: Duration,
    /// Most pods ejected at once.
    pub max_ejected: Percent,
    /// Most TCP connections per client pod.
    pub max_connections: u32,
    /// Most pending requests.
    pub max_pending: u32,
    /// Requests per connection, 0 for unlimited.
    pub max_requests_per_connection: u32,
}

/// Retries.
#[derive(Debug, Clone, Serialize)]
pub struct Retries {
    /// Retries after the first attempt.
    pub attempts: u32,
    /// Timeout per attempt.
    pub per_try_timeout: Duration,
    /// Envoy retry conditions.
    pub retry_on: String,
}

/// How a new version of a service reaches its callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseStrategy {
    /// The Deployment's rolling update: every replica replaced, nothing judged.
    Rolling,
    /// An Argo Rollouts canary: traffic shifted step by step, each step judged by the
    /// service's SLOs.
    Canary,
}

/// One step of a canary: a traffic weight held for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CanaryStep {
    /// Percent of the requests the new version gets, 1 to 99.
    pub weight: u32,
    /// How long the step lasts, at least one analysis interval.
    pub pause: Duration,
}

/// A service's release settings. For a rolling service only `strategy` matters; the
/// rest keep their defaults so that `explain` shows what a switch to canary would do.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    /// Rolling or canary.
    pub strategy: ReleaseStrategy,
    /// Canary steps, weights strictly rising.
    pub steps: Vec<CanaryStep>,
    /// How often the analysis measures, and the range each measurement covers.
    pub analysis_interval: Duration,
    /// Canary requests per interval below which a measurement is inconclusive.
    pub min_requests: u32,
    /// Highest burn rate of each SLO the canary may show over an interval.
    pub max_burn: f64,
    /// Most the canary's error ratio may be, as a multiple of the stable version's.
    pub max_ratio_to_stable: f64,
}

impl Release {
    /// Whether the service is released by a canary.
    pub fn is_canary(&self) -> bool {
        self.strategy == ReleaseStrategy::Canary
    }
}

fn def_name<S: serde::Serializer>(def: &&'static ServiceDef, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(def.name)
}

fn count_or_percent<S: serde::Serializer>(v: &CountOrPercent, s: S) -> Result<S::Ok, S::Error> {
    match v {
        CountOrPercent::Count(n) => s.serialize_u32(*n),
        CountOrPercent::Percent(p) => s.collect_str(&format_args!("{p}%")),
    }
}
