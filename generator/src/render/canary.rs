//! Canary releases with Argo Rollouts and Istio subset-level routing, for every service
//! whose `release.strategy` is `canary`: a `Rollout` that runs the Deployment's own pod
//! template (`workloadRef`), and the `AnalysisTemplate` whose measurements come from
//! [`kubestore_core::canary`], i.e. from the SLOs.
//!
//! Why `workloadRef` rather than a pod template of the Rollout's own: the Deployment
//! stays the one home of the pod spec (probes, security context, spreading, drain,
//! resources, the proxy annotation), the base stays plain Deployments, and switching a
//! service to canary is zero-downtime: the controller brings the Rollout's pods up, then
//! scales the Deployment to 0 (`scaleDown: onsuccess`).
//!
//! Why one background analysis rather than an `analysis` step after each weight: it
//! starts with the first pause and measures every interval until promotion, so there is
//! no unmeasured gap when a weight changes, a bad version is aborted at the first failed
//! measurement of its first step (`failureLimit: 0`: Argo fails a run once *more* than
//! the limit failed), and one AnalysisRun holds every measurement of the release.
//!
//! The changes to objects other renderers own (subsets in the DestinationRule, weighted
//! destinations in the VirtualServices, the HPA's target, the monitors' pod label, Argo
//! CD's ignored fields) are made there, asking [`is_canary`].

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubestore_core::canary::{
    self, CANARY_HASH_ARG, CANARY_SUBSET, STABLE_HASH_ARG, STABLE_SUBSET,
};
use kubestore_core::catalog;
use kubestore_core::model::{CountOrPercent, Environment, Service};

use super::Object;
use super::istio::{http_routes, ingress_route_name};
use super::workloads::meta;
use crate::crds::Custom;
use crate::crds::rollouts::{
    AnalysisRunArgument, AnalysisTemplateRef, AnalysisTemplateSpec, Argument, ArgumentValueFrom,
    CanaryStep, CanaryStrategy, IstioDestinationRule, IstioTrafficRouting, IstioVirtualService,
    Metric, MetricProvider, PrometheusMetric, RolloutAnalysis, RolloutPause, RolloutSpec, Strategy,
    TrafficRouting, WorkloadRef,
};

/// Component label of the release objects.
const COMPONENT: &str = "release";
/// Seconds a Prometheus query of the analysis may take.
const QUERY_TIMEOUT_SECONDS: i64 = 10;
/// `podTemplateHashValue` of the canary's ReplicaSet.
const LATEST: &str = "Latest";
/// `podTemplateHashValue` of the stable ReplicaSet.
const STABLE: &str = "Stable";

/// Whether `service` is released by a canary in `env`.
pub fn is_canary(service: &Service) -> bool {
    service.release.is_canary()
}

/// The Rollout and AnalysisTemplate of every canary service.
pub(super) fn render_canary(env: &Environment) -> Vec<Object> {
    env.services
        .iter()
        .filter(|s| is_canary(s))
        .flat_map(|service| {
            [
                Object::new(service.name(), "rollout", &rollout(env, service)),
                Object::new(
                    service.name(),
                    "analysistemplate",
                    &analysis_template(env, service),
                ),
            ]
        })
        .collect()
}

/// Name of a service's AnalysisTemplate.
pub fn analysis_template_name(service: &Service) -> String {
    format!("{}-canary", service.name())
}

/// The VirtualServices with routes reaching `service`, and those routes' names: its
/// own, and for the entry point the ingress's. The controller sets the weights of
/// exactly these.
pub fn routes_reaching(env: &Environment, service: &Service) -> Vec<(String, Vec<String>)> {
    let names: Vec<String> = http_routes(env, service)
        .into_iter()
        .map(|r| r.name)
        .collect();
    let mut out = vec![(service.name().to_owned(), names.clone())];
    if service.name() == catalog::ENTRY_POINT.name {
        out.push((ingress_route_name(), names));
    }
    out
}

/// The Rollout of a canary service: the Deployment's pods, released step by step.
pub fn rollout(env: &Environment, service: &Service) -> Custom<RolloutSpec> {
    let name = service.name();
    let release = &service.release;
    let steps = release
        .steps
        .iter()
        .flat_map(|step| {
            [
                CanaryStep {
                    set_weight: Some(step.weight as i32),
                    ..Default::default()
                },
                CanaryStep {
                    pause: Some(RolloutPause {
                        duration: step.pause.to_string(),
                    }),
                    ..Default::default()
                },
            ]
        })
        .collect();
    let max_surge = match service.max_surge {
        CountOrPercent::Count(n) => IntOrString::Int(n as i32),
        CountOrPercent::Percent(p) => IntOrString::String(format!("{p}%")),
    };
    let hash_arg = |arg: &str, from: &str| AnalysisRunArgument {
        name: arg.to_owned(),
        value_from: ArgumentValueFrom {
            pod_template_hash_value: from.to_owned(),
        },
    };
    Custom::new(
        meta(name, COMPONENT),
        RolloutSpec {
            // As the Deployment: an autoscaler owns the count where there is one.
            replicas: (!service.replicas.autoscaled()).then_some(service.replicas.min as i32),
            revision_history_limit: 5,
            workload_ref: WorkloadRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: name.to_owned(),
                scale_down: "onsuccess".into(),
            },
            strategy: Strategy {
                canary: CanaryStrategy {
                    max_surge,
                    max_unavailable: 0,
                    analysis: RolloutAnalysis {
                        templates: vec![AnalysisTemplateRef {
                            template_name: analysis_template_name(service),
                        }],
                        args: vec![
                            hash_arg(CANARY_HASH_ARG, LATEST),
                            hash_arg(STABLE_HASH_ARG, STABLE),
                        ],
                        // Step 0 sets the first weight; the analysis starts with its pause.
                        starting_step: Some(1),
                    },
                    traffic_routing: TrafficRouting {
                        istio: IstioTrafficRouting {
                            virtual_services: routes_reaching(env, service)
                                .into_iter()
                                .map(|(name, routes)| IstioVirtualService { name, routes })
                                .collect(),
                            destination_rule: IstioDestinationRule {
                                name: name.to_owned(),
                                canary_subset_name: CANARY_SUBSET.into(),
                                stable_subset_name: STABLE_SUBSET.into(),
                            },
                        },
                    },
                    steps,
                },
            },
        },
    )
}

/// The AnalysisTemplate of a canary service: its measurements, from the SLOs.
pub fn analysis_template(env: &Environment, service: &Service) -> Custom<AnalysisTemplateSpec> {
    let release = &service.release;
    let interval = release.analysis_interval.to_string();
    let metrics = env
        .slos
        .service(service.name())
        .map(|slos| canary::metrics(env, slos, release))
        .unwrap_or_default()
        .into_iter()
        .map(|m| Metric {
            name: m.name,
            interval: interval.clone(),
            initial_delay: interval.clone(),
            success_condition: m.conditions.success,
            failure_condition: m.conditions.failure,
            failure_limit: 0,
            inconclusive_limit: 0,
            provider: MetricProvider {
                prometheus: PrometheusMetric {
                    address: env.monitoring.prometheus_url.clone(),
                    query: m.query,
                    timeout: QUERY_TIMEOUT_SECONDS,
                },
            },
        })
        .collect();
    Custom::new(
        meta(&analysis_template_name(service), COMPONENT),
        AnalysisTemplateSpec {
            args: [CANARY_HASH_ARG, STABLE_HASH_ARG]
                .into_iter()
                .map(|name| Argument {
                    name: name.to_owned(),
                })
                .collect(),
            metrics,
        },
    )
}
