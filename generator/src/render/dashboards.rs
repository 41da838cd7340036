//! Grafana dashboards from the minijinja templates in the top-level `dashboards/templates/`,
//! rendered per environment and shipped twice: as ConfigMaps the Grafana sidecar picks up
//! (label `grafana_dashboard: "1"`, folder annotation `grafana_folder`), and as the same
//! JSON in `dashboards/<env>/<slug>.json` for a user to import (see `crate::tree`).
//!
//! The templates are embedded with `include_str!`, so the binary renders the same
//! dashboards from any working directory and a render never depends on files beside the
//! environments. They are read through `generator/dashboards`, a symlink to
//! `../dashboards/templates`: `cargo package` follows it and packs the files into the
//! crate, which then builds on its own (a path outside the crate would be left out). They
//! render with `UndefinedBehavior::Strict`, and the output is parsed back as JSON before it
//! is used; then every panel gets a unique id and a grid position, so templates only say
//! how wide and tall a panel is.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kubestore_core::metrics;
use kubestore_core::model::Environment;
use kubestore_core::model::slo::decimal;
use kubestore_core::sli::{
    BUDGET_REMAINING_SERIES, OBJECTIVE_SERIES, error_ratio_series, selector, slo_labels,
};
use minijinja::value::Serde;
use minijinja::{AutoEscape, UndefinedBehavior, Value as JinjaValue};
use serde::Serialize;
use serde_json::Value;

use super::Object;
use super::workloads::meta;
use crate::envoy::stats;

/// The templates, by name.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("_macros.j2", include_str!("../../dashboards/_macros.j2")),
    (
        "overview.json.j2",
        include_str!("../../dashboards/overview.json.j2"),
    ),
    (
        "service.json.j2",
        include_str!("../../dashboards/service.json.j2"),
    ),
    ("slo.json.j2", include_str!("../../dashboards/slo.json.j2")),
    (
        "capacity.json.j2",
        include_str!("../../dashboards/capacity.json.j2"),
    ),
    (
        "resilience.json.j2",
        include_str!("../../dashboards/resilience.json.j2"),
    ),
];

/// Label the Grafana sidecar selects dashboard ConfigMaps by.
pub const DASHBOARD_LABEL: &str = "grafana_dashboard";
/// Annotation naming the Grafana folder (the sidecar's `folderAnnotation`).
pub const FOLDER_ANNOTATION: &str = "grafana_folder";

/// Why a dashboard could not be rendered. The templates are embedded, so either is a bug
/// that the tests catch; the message names the dashboard.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The template failed to render (a syntax error or an undefined variable).
    #[error("dashboard {name}: template error")]
    Template {
        /// Dashboard slug.
        name: String,
        /// The minijinja error.
        #[source]
        source: minijinja::Error,
    },
    /// The rendered text is not JSON.
    #[error("dashboard {name}: rendered text is not JSON near `{excerpt}`")]
    Json {
        /// Dashboard slug.
        name: String,
        /// The rendered text around the error.
        excerpt: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// One rendered dashboard.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// Short name: `overview`, `red-orders`, `slo`, `capacity`, `resilience`.
    pub slug: String,
    /// Grafana uid, stable across renders.
    pub uid: String,
    /// The dashboard JSON.
    pub json: Value,
}

#[derive(Serialize)]
struct BurnContext {
    tier: &'static str,
    long: String,
    short: String,
    factor: String,
    threshold: String,
    budget_percent: u64,
    long_series: String,
    short_series: String,
}

#[derive(Serialize)]
struct SloContext {
    kind: &'static str,
    objective: String,
    good: String,
    budget_ratio: String,
    budget_percent: String,
    window_series: String,
    short_series: String,
    shortest: String,
    objective_series: String,
    budget_remaining_series: String,
    burn: Vec<BurnContext>,
}

#[derive(Serialize)]
struct ServiceContext {
    name: &'static str,
    slos: Vec<SloContext>,
}

fn services(env: &Environment) -> Vec<ServiceContext> {
    env.slos
        .services
        .iter()
        .map(|service| ServiceContext {
            name: service.name(),
            slos: service
                .slos
                .iter()
                .map(|slo| {
                    let labels = slo_labels(env, service, slo);
                    let series = |range| selector(&error_ratio_series(range), &labels);
                    let windows = service.rate_windows();
                    SloContext {
                        kind: slo.kind.as_str(),
                        objective: slo.objective.to_string(),
                        good: match slo.threshold {
                            Some(t) => format!("faster than {t}"),
                            None => "answered without a 5xx".into(),
                        },
                        budget_ratio: slo.budget_ratio(),
                        budget_percent: decimal(u128::from(slo.budget_micro()), 1_000_000) + "%",
                        window_series: series(service.window),
                        short_series: series(windows[0]),
                        shortest: windows[0].to_string(),
                        objective_series: selector(OBJECTIVE_SERIES, &labels),
                        budget_remaining_series: selector(BUDGET_REMAINING_SERIES, &labels),
                        burn: service
                            .burn_windows()
                            .iter()
                            .map(|b| BurnContext {
                                tier: b.tier.severity(),
                                long: b.long.to_string(),
                                short: b.short.to_string(),
                                factor: b.factor(),
                                threshold: b.threshold(slo),
                                budget_percent: b.budget_percent,
                                long_series: series(b.long),
                                short_series: series(b.short),
                            })
                            .collect(),
                    }
                })
                .collect(),
        })
        .collect()
}

/// Every metric name the templates read, under the name they use for it (`metric.<key>`),
/// each taken from its home: the services' and the cluster's names in
/// `kubestore_core::metrics`, the recorded SLO series in `kubestore_core::sli`, the Envoy
/// statistics in [`crate::envoy::stats`]. A template spells none itself, so a renamed
/// metric cannot leave a panel reading the old name.
pub fn metric_names() -> BTreeMap<&'static str, String> {
    let names: [(&str, &str); 14] = [
        ("requests_total", metrics::REQUESTS_TOTAL),
        ("requests_in_flight", metrics::REQUESTS_IN_FLIGHT),
        ("request_duration", metrics::REQUEST_DURATION),
        ("budget_remaining", BUDGET_REMAINING_SERIES),
        ("hpa_current_replicas", metrics::HPA_CURRENT_REPLICAS),
        ("hpa_desired_replicas", metrics::HPA_DESIRED_REPLICAS),
        ("hpa_max_replicas", metrics::HPA_MAX_REPLICAS),
        (
            "deployment_available_replicas",
            metrics::DEPLOYMENT_AVAILABLE_REPLICAS,
        ),
        (
            "deployment_spec_replicas",
            metrics::DEPLOYMENT_SPEC_REPLICAS,
        ),
        ("pod_resource_requests", metrics::POD_RESOURCE_REQUESTS),
        ("pod_resource_limits", metrics::POD_RESOURCE_LIMITS),
        ("pod_restarts_total", metrics::POD_RESTARTS_TOTAL),
        (
            "container_cpu_seconds_total",
            metrics::CONTAINER_CPU_SECONDS_TOTAL,
        ),
        (
            "container_memory_working_set",
            metrics::CONTAINER_MEMORY_WORKING_SET,
        ),
    ];
    let mut out: BTreeMap<&'static str, String> =
        names.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    out.insert(
        "request_duration_bucket",
        format!("{}_bucket", metrics::REQUEST_DURATION),
    );
    for (key, stat) in [
        ("envoy_retries", stats::RETRIES),
        ("envoy_retry_limit_exceeded", stats::RETRY_LIMIT_EXCEEDED),
        ("envoy_ejections_active", stats::EJECTIONS_ACTIVE),
        ("envoy_pending_overflow", stats::PENDING_OVERFLOW),
        ("envoy_connection_overflow", stats::CONNECTION_OVERFLOW),
        ("envoy_no_healthy_upstream", stats::NO_HEALTHY_UPSTREAM),
        ("envoy_requests", stats::REQUESTS),
        ("envoy_answered_503", stats::ANSWERED_503),
        ("envoy_fault_aborts", stats::FAULT_ABORTS),
        ("envoy_fault_delays", stats::FAULT_DELAYS),
    ] {
        out.insert(key, stat.series.to_owned());
    }
    out
}

/// Every dashboard of `env`.
pub fn dashboards(env: &Environment) -> Result<Vec<Dashboard>, DashboardError> {
    let mut jinja = minijinja::Environment::new();
    jinja.set_undefined_behavior(UndefinedBehavior::Strict);
    // The templates quote every string themselves with `tojson`; minijinja's automatic
    // JSON escaping (on for `*.json.j2`) would quote PromQL a second time.
    jinja.set_auto_escape_callback(|_| AutoEscape::None);
    for (name, source) in TEMPLATES {
        jinja
            .add_template(name, source)
            .map_err(|source| DashboardError::Template {
                name: (*name).to_owned(),
                source,
            })?;
    }
    let env_context = serde_json::json!({
        "name": env.name,
        "namespace": env.namespace,
        "folder": env.monitoring.grafana_folder,
    });
    // A single window per environment in practice; the first service's names it.
    let window = env
        .slos
        .services
        .first()
        .map(|s| s.window.to_string())
        .unwrap_or_default();
    let services = services(env);
    let metric = metric_names();
    let mut jobs: Vec<(String, &str, BTreeMap<&str, JinjaValue>)> = Vec::new();
    let base = |uid: &str| {
        BTreeMap::from([
            ("env", JinjaValue::from(Serde(&env_context))),
            ("window", JinjaValue::from(window.clone())),
            ("services", JinjaValue::from(Serde(&services))),
            ("uid", JinjaValue::from(uid.to_owned())),
            ("metric", JinjaValue::from(Serde(&metric))),
        ])
    };
    for (slug, template) in [
        ("overview", "overview.json.j2"),
        ("slo", "slo.json.j2"),
        ("capacity", "capacity.json.j2"),
        ("resilience", "resilience.json.j2"),
    ] {
        jobs.push((slug.to_owned(), template, base(&uid(env, slug))));
    }
    for service in &env.services {
        let slug = format!("red-{}", service.name());
        let mut context = base(&uid(env, &slug));
        context.insert(
            "service",
            JinjaValue::from(Serde(serde_json::json!({"name": service.name()}))),
        );
        jobs.push((slug, "service.json.j2", context));
    }
    let mut out = Vec::new();
    for (slug, template, context) in jobs {
        let template_error = |source| DashboardError::Template {
            name: slug.clone(),
            source,
        };
        let text = jinja
            .get_template(template)
            .and_then(|t| t.render(JinjaValue::from(Serde(&context))))
            .map_err(template_error)?;
        let mut json: Value =
            serde_json::from_str(&text).map_err(|source| DashboardError::Json {
                name: slug.clone(),
                excerpt: text
                    .lines()
                    .nth(source.line().saturating_sub(1))
                    .map(|l| {
                        let from = source.column().saturating_sub(60);
                        l.chars().skip(from).take(120).collect()
                    })
                    .unwrap_or_default(),
                source,
            })?;
        lay_out(&mut json);
        out.push(Dashboard {
            uid: uid(env, &slug),
            slug,
            json,
        });
    }
    Ok(out)
}

/// `ks-<env>-<slug>`: stable, and within Grafana's 40 characters for every name the
/// validator accepts for services (`red-<service>`) and environments up to 24 characters.
fn uid(env: &Environment, slug: &str) -> String {
    let uid = format!("ks-{}-{slug}", env.name);
    uid.chars().take(40).collect()
}

/// Numbers the panels 1, 2, ... and flows them left to right, top to bottom, on Grafana's
/// 24-column grid; a row panel always starts a new line.
fn lay_out(dashboard: &mut Value) {
    let Some(panels) = dashboard.get_mut("panels").and_then(Value::as_array_mut) else {
        return;
    };
    let (mut x, mut y, mut line_height) = (0_u64, 0_u64, 0_u64);
    for (i, panel) in panels.iter_mut().enumerate() {
        let w = panel["gridPos"]["w"].as_u64().unwrap_or(12).min(24);
        let h = panel["gridPos"]["h"].as_u64().unwrap_or(8);
        if panel["type"] == "row" || x + w > 24 {
            y += line_height;
            x = 0;
            line_height = 0;
        }
        panel["id"] = Value::from(i as u64 + 1);
        panel["gridPos"] = serde_json::json!({"h": h, "w": w, "x": x, "y": y});
        x += w;
        line_height = line_height.max(h);
        if panel["type"] == "row" {
            y += h;
            x = 0;
            line_height = 0;
        }
    }
}

/// A dashboard's JSON as a file holds it, and as its ConfigMap carries it.
pub fn dashboard_text(dashboard: &Dashboard) -> String {
    serde_json::to_string_pretty(&dashboard.json).expect("JSON serializes") + "\n"
}

/// Every dashboard of `env`; the templates are embedded and tested, so a failure is a bug
/// and panics with the whole chain of causes.
fn rendered(env: &Environment) -> Vec<Dashboard> {
    dashboards(env).unwrap_or_else(|e| {
        panic!(
            "{}",
            std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": ")
        )
    })
}

/// The dashboards of `env` as files to import, by their path inside `dashboards/`.
pub fn render_dashboard_files(env: &Environment) -> Vec<(String, String)> {
    let place = crate::tree::EnvTree::of(env);
    rendered(env)
        .iter()
        .map(|d| (place.dashboard_file(&d.slug), dashboard_text(d)))
        .collect()
}

/// The dashboards of `env` as ConfigMaps, one per dashboard.
pub fn render_dashboards(env: &Environment) -> Vec<Object> {
    rendered(env)
        .into_iter()
        .map(|dashboard| {
            let name = format!("dashboard-{}", dashboard.slug);
            let mut metadata = meta(&name, "dashboard");
            metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert(DASHBOARD_LABEL.into(), "1".into());
            metadata.annotations = Some(BTreeMap::from([(
                FOLDER_ANNOTATION.to_owned(),
                env.monitoring.grafana_folder.clone(),
            )]));
            let map = ConfigMap {
                metadata,
                data: Some(BTreeMap::from([(
                    format!("{}.json", dashboard.uid),
                    dashboard_text(&dashboard),
                )])),
                ..Default::default()
            };
            Object::new(&name, "configmap", &map)
        })
        .collect()
}
