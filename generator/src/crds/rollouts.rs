//! Argo Rollouts (`argoproj.io/v1alpha1`): the `Rollout` that releases a canary service
//! (its pods still described by the Deployment it refers to) and the `AnalysisTemplate`
//! whose Prometheus measurements judge each step.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::Resource;

/// `Rollout`: a canary release of the pods of the Deployment `workload_ref` names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// Replicas when no autoscaler owns the count (an HPA scales the Rollout otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Old ReplicaSets kept for a rollback.
    pub revision_history_limit: i32,
    /// The Deployment whose pod template the Rollout runs.
    pub workload_ref: WorkloadRef,
    /// How a new version is released.
    pub strategy: Strategy,
}

impl Resource for RolloutSpec {
    const API_VERSION: &'static str = "argoproj.io/v1alpha1";
    const KIND: &'static str = "Rollout";
}

/// A reference to the workload holding the pod template.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    /// `apps/v1`.
    pub api_version: String,
    /// `Deployment`.
    pub kind: String,
    /// The Deployment's name.
    pub name: String,
    /// `never`, `onsuccess` or `progressively`: when the Deployment is scaled to 0.
    pub scale_down: String,
}

/// Release strategy; only the canary is rendered.
#[derive(Debug, Clone, Serialize)]
pub struct Strategy {
    /// The canary.
    pub canary: CanaryStrategy,
}

/// A canary: traffic weights shifted step by step, judged by a background analysis.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    /// Extra pods while the canary runs: a count or a percentage.
    pub max_surge: IntOrString,
    /// Pods that may be missing while the canary runs.
    pub max_unavailable: i32,
    /// The analysis that runs beside the steps and aborts the release when it fails.
    pub analysis: RolloutAnalysis,
    /// How the traffic is split.
    pub traffic_routing: TrafficRouting,
    /// `setWeight` then `pause`, per step.
    pub steps: Vec<CanaryStep>,
}

/// An analysis of a Rollout.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysis {
    /// The templates it runs.
    pub templates: Vec<AnalysisTemplateRef>,
    /// Arguments handed to the templates.
    pub args: Vec<AnalysisRunArgument>,
    /// Index of the step the background analysis starts at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_step: Option<i32>,
}

/// A template of the analysis, by name.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateRef {
    /// The AnalysisTemplate's name.
    pub template_name: String,
}

/// An argument of an AnalysisRun.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunArgument {
    /// Argument name.
    pub name: String,
    /// Where its value comes from.
    pub value_from: ArgumentValueFrom,
}

/// The source of an argument's value.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgumentValueFrom {
    /// `Latest` (the canary's ReplicaSet) or `Stable`: its pod-template hash.
    pub pod_template_hash_value: String,
}

/// Traffic routing through the mesh.
#[derive(Debug, Clone, Serialize)]
pub struct TrafficRouting {
    /// Istio, subset-level.
    pub istio: IstioTrafficRouting,
}

/// Istio subset-level routing: the controller writes the weights of the named routes
/// and the pod-template hash labels of the DestinationRule's two subsets.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioTrafficRouting {
    /// Every VirtualService with a route reaching the service.
    pub virtual_services: Vec<IstioVirtualService>,
    /// The DestinationRule holding the two subsets.
    pub destination_rule: IstioDestinationRule,
}

/// A VirtualService and the routes whose weights the controller sets.
#[derive(Debug, Clone, Serialize)]
pub struct IstioVirtualService {
    /// Its name.
    pub name: String,
    /// Names of its HTTP routes.
    pub routes: Vec<String>,
}

/// The DestinationRule and its subset names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioDestinationRule {
    /// Its name.
    pub name: String,
    /// Subset of the new version.
    pub canary_subset_name: String,
    /// Subset of the version serving before the release.
    pub stable_subset_name: String,
}

/// One canary step: exactly one field is set.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    /// Percent of the traffic the canary gets from here on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_weight: Option<i32>,
    /// Wait this long before the next step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause: Option<RolloutPause>,
}

/// A pause of a given length.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutPause {
    /// `5m`, `30s`.
    pub duration: String,
}

/// `AnalysisTemplate`: the measurements that judge a canary.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisTemplateSpec {
    /// Arguments the Rollout hands in.
    pub args: Vec<Argument>,
    /// The measurements.
    pub metrics: Vec<Metric>,
}

impl Resource for AnalysisTemplateSpec {
    const API_VERSION: &'static str = "argoproj.io/v1alpha1";
    const KIND: &'static str = "AnalysisTemplate";
}

/// A template argument, by name.
#[derive(Debug, Clone, Serialize)]
pub struct Argument {
    /// Its name, read as `{{args.<name>}}`.
    pub name: String,
}

/// One measurement, repeated every `interval`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    /// Name, shown in the AnalysisRun.
    pub name: String,
    /// Time between measurements, and the range each one covers.
    pub interval: String,
    /// Wait before the first measurement, so it covers a whole interval of canary traffic.
    pub initial_delay: String,
    /// The measurement passes when this holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_condition: Option<String>,
    /// The measurement fails when this holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_condition: Option<String>,
    /// Failed measurements tolerated: the run fails once more than this many failed.
    pub failure_limit: i32,
    /// Inconclusive measurements tolerated before the run is Inconclusive.
    pub inconclusive_limit: i32,
    /// Where the value comes from.
    pub provider: MetricProvider,
}

/// A measurement's source.
#[derive(Debug, Clone, Serialize)]
pub struct MetricProvider {
    /// A Prometheus instant query.
    pub prometheus: PrometheusMetric,
}

/// A Prometheus instant query.
#[derive(Debug, Clone, Serialize)]
pub struct PrometheusMetric {
    /// Prometheus' URL.
    pub address: String,
    /// The PromQL.
    pub query: String,
    /// Seconds before the query is given up.
    pub timeout: i64,
}
