//! Scaling and disruption: HorizontalPodAutoscalers (autoscaling/v2) and
//! PodDisruptionBudgets.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
    ResourceMetricSource,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubestore_core::conventions::selector;
use kubestore_core::model::{Disruption, Environment, Service};

use super::Object;
use super::workloads::meta;

pub(super) fn render_scaling(env: &Environment) -> Vec<Object> {
    let mut out = Vec::new();
    for service in &env.services {
        if service.replicas.autoscaled() {
            out.push(Object::new(service.name(), "hpa", &hpa(service)));
        }
        out.push(Object::new(service.name(), "pdb", &pdb(service)));
    }
    out
}

fn policy(type_: &str, value: i32, period: i32) -> HPAScalingPolicy {
    HPAScalingPolicy {
        type_: type_.into(),
        value,
        period_seconds: period,
    }
}

fn hpa(service: &Service) -> HorizontalPodAutoscaler {
    let name = service.name();
    HorizontalPodAutoscaler {
        metadata: meta(name, "autoscaler"),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: name.into(),
            },
            min_replicas: Some(service.replicas.min as i32),
            max_replicas: service.replicas.max as i32,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(service.cpu_target.rounded() as i32),
                        ..Default::default()
                    },
                }),
                ..Default::default()
            }]),
            behavior: Some(HorizontalPodAutoscalerBehavior {
                // Scale up at once, doubling or adding 4 pods per 30 s, whichever is more:
                // a traffic spike must not wait for a stabilisation window.
                scale_up: Some(HPAScalingRules {
                    stabilization_window_seconds: Some(0),
                    select_policy: Some("Max".into()),
                    policies: Some(vec![policy("Percent", 100, 30), policy("Pods", 4, 30)]),
                    ..Default::default()
                }),
                // Scale down slowly: 5 minutes of calm, then at most a quarter per minute,
                // so a bursty load does not flap the replica count.
                scale_down: Some(HPAScalingRules {
                    stabilization_window_seconds: Some(300),
                    select_policy: Some("Min".into()),
                    policies: Some(vec![policy("Percent", 25, 60)]),
                    ..Default::default()
                }),
            }),
        }),
        ..Default::default()
    }
}

fn pdb(service: &Service) -> PodDisruptionBudget {
    let name = service.name();
    let (min_available, max_unavailable) = match service.disruption {
        Disruption::MinAvailable(n) => (Some(IntOrString::Int(n as i32)), None),
        Disruption::MaxUnavailable(n) => (None, Some(IntOrString::Int(n as i32))),
    };
    PodDisruptionBudget {
        metadata: meta(name, "disruption-budget"),
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: Some(selector(name)),
                ..Default::default()
            }),
            min_available,
            max_unavailable,
            // A crash-looping pod must never hold up a node drain.
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
        }),
        ..Default::default()
    }
}
