//! SLO rules: recording rules for each SLI's error ratio over every alert window and the
//! whole SLO window, metadata rules (objective, budget, budget remaining), the
//! multi-window multi-burn-rate alerts of the Google SRE workbook, an alert for a vanished
//! SLI, and capacity and resilience alerts. The same groups are rendered as
//! `PrometheusRule` objects for the Prometheus Operator and as a plain rules file for the
//! one-machine Prometheus and `promtool`; the runbook every alert links to is rendered
//! here too, so an alert and its runbook section cannot drift apart.
//!
//! Recorded series (labels `service`, `slo`, `environment`):
//! - `slo:sli_error:ratio_rate<range>`: share of bad requests over `<range>`;
//! - `slo:sli_requests:rate<range>`: requests per second over the page tier's first long
//!   window, which gates paging at low traffic;
//! - `slo:objective:ratio`, `slo:error_budget:ratio`: the SLO as numbers;
//! - `slo:error_budget_remaining:ratio`: 1 - (error ratio over the window / budget).

use std::collections::BTreeMap;

use kubestore_core::metrics;
use kubestore_core::model::slo::{ServiceSlos, Slo, SloKind, Tier, decimal};
use kubestore_core::model::{Duration, Environment};
use kubestore_core::sli::{
    BUDGET_REMAINING_SERIES, BUDGET_SERIES, OBJECTIVE_SERIES, alert_name, error_ratio_expr,
    error_ratio_series, requests_expr, requests_series, selector, sli_metrics, slo_labels,
};

use super::Object;
use super::workloads::meta;
use crate::crds::Custom;
use crate::crds::monitoring::{PrometheusRuleSpec, Rule, RuleGroup};
use crate::envoy::stats;

/// Link to the runbook section of `alert`, in the repository Argo CD reads.
pub fn runbook_url(env: &Environment, alert: &str) -> String {
    let repo = env.git.repo.trim_end_matches(".git");
    format!(
        "{repo}/blob/{}/{}/{}#{}",
        env.git.revision,
        env.git.path.trim_matches('/'),
        crate::tree::EnvTree::of(env).runbook(),
        alert.to_ascii_lowercase()
    )
}

/// Names of the fast- and slow-burn and absent alerts.
const FAST: &str = "FastBurn";
const SLOW: &str = "SlowBurn";
const ABSENT: &str = "SLIAbsent";

/// Capacity and resilience alerts, one rule each for the whole namespace.
pub const HPA_AT_MAXIMUM: &str = "KubeStoreHPAAtMaximum";
/// A Deployment with unavailable replicas.
pub const REPLICAS_UNAVAILABLE: &str = "KubeStoreReplicasUnavailable";
/// Sustained outlier ejections.
pub const OUTLIER_EJECTIONS: &str = "KubeStoreOutlierEjections";

/// Every rule group of `env`: per service its SLI recordings, then its alerts; then the
/// window-long recordings, evaluated less often; then capacity and resilience alerts.
pub fn groups(env: &Environment) -> Vec<RuleGroup> {
    let mut groups = Vec::new();
    let mut window_rules = Vec::new();
    for service in &env.slos.services {
        let mut records = Vec::new();
        let mut alerts = Vec::new();
        for slo in &service.slos {
            let labels = slo_labels(env, service, slo);
            let windows = service.rate_windows();
            let (window, alert_windows) = windows.split_last().expect("a window");
            for range in alert_windows {
                records.push(
                    Rule::record(
                        error_ratio_series(*range),
                        error_ratio_expr(env, service, slo, &range.to_string()),
                    )
                    .labels(labels.clone()),
                );
            }
            let gate = service.burn_windows()[0].long;
            records.push(
                Rule::record(
                    requests_series(gate),
                    requests_expr(env, service, slo, &gate.to_string()),
                )
                .labels(labels.clone()),
            );
            records.push(
                Rule::record(
                    OBJECTIVE_SERIES,
                    format!("vector({})", slo.objective_ratio()),
                )
                .labels(labels.clone()),
            );
            records.push(
                Rule::record(BUDGET_SERIES, format!("vector({})", slo.budget_ratio()))
                    .labels(labels.clone()),
            );
            window_rules.push(
                Rule::record(
                    error_ratio_series(*window),
                    error_ratio_expr(env, service, slo, &window.to_string()),
                )
                .labels(labels.clone()),
            );
            window_rules.push(
                Rule::record(
                    BUDGET_REMAINING_SERIES,
                    format!(
                        "1 - ({} / {})",
                        selector(&error_ratio_series(*window), &labels),
                        slo.budget_ratio()
                    ),
                )
                .labels(labels.clone()),
            );
            alerts.extend(slo_alerts(env, service, slo));
        }
        groups.push(RuleGroup {
            name: format!("kubestore-{}-{}-sli", env.name, service.name()),
            interval: None,
            rules: records,
        });
        if !alerts.is_empty() {
            groups.push(RuleGroup {
                name: format!("kubestore-{}-{}-slo-alerts", env.name, service.name()),
                interval: None,
                rules: alerts,
            });
        }
    }
    // A rate over 30 days reads every sample of the window; once every 5 minutes is
    // plenty for a number that moves by a hair per hour.
    groups.push(RuleGroup {
        name: format!("kubestore-{}-slo-window", env.name),
        interval: Some(WINDOW_INTERVAL.into()),
        rules: window_rules,
    });
    groups.push(RuleGroup {
        name: format!("kubestore-{}-capacity", env.name),
        interval: None,
        rules: capacity_alerts(env),
    });
    groups
}

/// Evaluation interval of the window-long recordings.
pub const WINDOW_INTERVAL: &str = "5m";

/// How long the SLI's series must be gone before the absent alert fires: longer than a
/// rollout, shorter than a meaningful piece of a 7d budget.
const ABSENT_FOR: &str = "10m";

fn slo_alerts(env: &Environment, service: &ServiceSlos, slo: &Slo) -> Vec<Rule> {
    let labels = slo_labels(env, service, slo);
    let series = |range: Duration| selector(&error_ratio_series(range), &labels);
    let name = service.name();
    let what = format!("{name} {}", slo.kind.as_str());
    let objective = match slo.threshold {
        Some(t) => format!("{} of requests faster than {t}", slo.objective),
        None => format!("{} of requests without a 5xx", slo.objective),
    };
    let mut out = Vec::new();
    for tier in [Tier::Page, Tier::Ticket] {
        if !slo.alerts.on(tier) {
            continue;
        }
        let windows: Vec<_> = service
            .burn_windows()
            .into_iter()
            .filter(|b| b.tier == tier)
            .collect();
        let conditions: Vec<String> = windows
            .iter()
            .map(|b| {
                let t = b.threshold(slo);
                format!(
                    "(\n  {} > {t}\n  and\n  {} > {t}\n)",
                    series(b.long),
                    series(b.short)
                )
            })
            .collect();
        let mut expr = conditions.join("\nor\n");
        let gate = service.burn_windows()[0].long;
        if tier == Tier::Page && slo.min_request_rate.micro() > 0 {
            expr = format!(
                "(\n{}\n)\nand\n{} >= {}",
                indent(&expr),
                selector(&requests_series(gate), &labels),
                slo.min_request_rate.per_second()
            );
        }
        let maths: Vec<String> = windows
            .iter()
            .map(|b| {
                format!(
                    "above {} ({}x the {} budget) over both {} and {}",
                    b.threshold(slo),
                    b.factor(),
                    decimal(u128::from(slo.budget_micro()), 1_000_000) + "%",
                    b.long,
                    b.short
                )
            })
            .collect();
        let spent: Vec<String> = windows
            .iter()
            .map(|b| {
                format!(
                    "{}% of the {} budget in {}",
                    b.budget_percent, service.window, b.long
                )
            })
            .collect();
        let (suffix, pace) = match tier {
            Tier::Page => (FAST, "fast"),
            Tier::Ticket => (SLOW, "steadily"),
        };
        let alert = alert_name(name, slo.kind, suffix);
        let mut description = format!(
            "The {what} error ratio is {}: at this pace it spends {}. Objective: {objective} \
             over {}. Current error ratio: {{{{ $value | humanizePercentage }}}}.",
            maths.join(", or "),
            spent.join(" or "),
            service.window
        );
        if tier == Tier::Page && slo.min_request_rate.micro() > 0 {
            description.push_str(&format!(
                " Held back below {} over {gate}.",
                slo.min_request_rate
            ));
        }
        out.push(
            Rule::alert(&alert, expr)
                .labels(labels.clone())
                .label("severity", tier.severity())
                .annotation(
                    "summary",
                    format!(
                        "{what} is burning its error budget {pace}: above {} ({objective} over \
                         {})",
                        windows
                            .iter()
                            .map(|b| format!("{}x over {}/{}", b.factor(), b.long, b.short))
                            .collect::<Vec<_>>()
                            .join(" or "),
                        service.window
                    ),
                )
                .annotation("description", description)
                .annotation("runbook_url", runbook_url(env, &alert)),
        );
    }
    if slo.alerts.absent {
        let alert = alert_name(name, slo.kind, ABSENT);
        let total = sli_metrics(env, service, slo).total;
        out.push(
            Rule::alert(&alert, format!("absent({total})"))
                .for_duration(ABSENT_FOR)
                .labels(labels)
                .label("severity", Tier::Ticket.severity())
                .annotation(
                    "summary",
                    format!("{what}: the SLI's series are gone, so no burn-rate alert can fire"),
                )
                .annotation(
                    "description",
                    format!(
                        "No `{total}` series for {ABSENT_FOR}: the service is down, not \
                         scraped, or renamed its metrics."
                    ),
                )
                .annotation("runbook_url", runbook_url(env, &alert)),
        );
    }
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The Deployments of the store, as a regex alternative.
fn deployments(env: &Environment) -> String {
    env.services
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join("|")
}

fn capacity_alerts(env: &Environment) -> Vec<Rule> {
    let ns = &env.namespace;
    let names = deployments(env);
    let base = BTreeMap::from([("environment".to_owned(), env.name.clone())]);
    vec![
        Rule::alert(
            HPA_AT_MAXIMUM,
            format!(
                "{current}{{namespace=\"{ns}\"}}\n\
                 >= on (namespace, horizontalpodautoscaler)\n\
                 {max}{{namespace=\"{ns}\"}}",
                current = metrics::HPA_CURRENT_REPLICAS,
                max = metrics::HPA_MAX_REPLICAS,
            ),
        )
        .for_duration("15m")
        .labels(base.clone())
        .label("severity", "ticket")
        .annotation(
            "summary",
            "{{ $labels.horizontalpodautoscaler }} has run at its maximum replicas for 15 minutes",
        )
        .annotation(
            "description",
            "The autoscaler cannot add pods: the next traffic increase turns into latency \
             and errors. Raise replicas.max or find what made each pod slower.",
        )
        .annotation("runbook_url", runbook_url(env, HPA_AT_MAXIMUM)),
        Rule::alert(
            REPLICAS_UNAVAILABLE,
            format!(
                "{unavailable}{{namespace=\"{ns}\",deployment=~\"{names}\"}} > 0",
                unavailable = metrics::DEPLOYMENT_UNAVAILABLE_REPLICAS,
            ),
        )
        .for_duration("10m")
        .labels(base.clone())
        .label("severity", "ticket")
        .annotation(
            "summary",
            "{{ $labels.deployment }} has had {{ $value }} unavailable replica(s) for 10 minutes",
        )
        .annotation(
            "description",
            "Pods are not becoming ready: a stuck rollout (crash loop, failing readiness, \
             image pull) or pods that cannot be scheduled.",
        )
        .annotation("runbook_url", runbook_url(env, REPLICAS_UNAVAILABLE)),
        // Envoy exports outlier-detection stats only when the proxy's stats inclusion
        // lists them (`proxyStatsMatcher` or the sidecar.istio.io/statsInclusionSuffixes
        // annotation with `outlier_detection.ejections_active`).
        Rule::alert(
            OUTLIER_EJECTIONS,
            format!(
                "sum by (cluster_name) (\n  {ejected}{{namespace=\"{ns}\",cluster_name=~\"outbound\\\\|.*\\\\.{ns}\\\\.svc\\\\.cluster\\\\.local\"}}\n) > 0",
                ejected = stats::EJECTIONS_ACTIVE.series,
            ),
        )
        .for_duration("10m")
        .labels(base)
        .label("severity", "ticket")
        .annotation(
            "summary",
            "The mesh has ejected {{ $value }} endpoint(s) of {{ $labels.cluster_name }} for 10 minutes",
        )
        .annotation(
            "description",
            "Circuit breaking keeps removing pods that answer 5xx: some pods of the service \
             are broken while others are healthy (bad node, poisoned cache, partial rollout).",
        )
        .annotation("runbook_url", runbook_url(env, OUTLIER_EJECTIONS)),
    ]
}

/// The PrometheusRule objects of `env`: one per service (its SLI and alert groups), one
/// for the window-long recordings and the capacity alerts.
pub fn render_rules(env: &Environment) -> Vec<Object> {
    let mut by_object: BTreeMap<String, Vec<RuleGroup>> = BTreeMap::new();
    let services: Vec<&str> = env.slos.services.iter().map(|s| s.name()).collect();
    for group in groups(env) {
        let owner = services
            .iter()
            .find(|s| {
                group
                    .name
                    .starts_with(&format!("kubestore-{}-{s}-", env.name))
            })
            .map(|s| format!("{s}-slo"))
            .unwrap_or_else(|| "kubestore-slo".to_owned());
        by_object.entry(owner).or_default().push(group);
    }
    by_object
        .into_iter()
        .map(|(name, groups)| {
            let rule = Custom::new(meta(&name, "monitoring"), PrometheusRuleSpec { groups });
            Object::new(&name, "prometheusrule", &rule)
        })
        .collect()
}

/// The plain Prometheus rules file (`groups:`) with the same groups.
pub fn rules_file(env: &Environment) -> serde_json::Value {
    serde_json::json!({ "groups": groups(env) })
}

/// The runbook: one section per alert, each with its anchor.
pub fn runbook(env: &Environment) -> String {
    let mut out = format!(
        "# Runbook: KubeStore {env}\n\nEvery alert of the `{env}` environment links to its \
         section here. The maths behind the burn-rate alerts is in `docs/slos.md`; the \
         dashboards are in the Grafana folder `{folder}`.\n\nFirst steps for any SLO alert:\n\n\
         1. Open the *SLO & error budget* dashboard: which SLO, how fast, since when.\n\
         2. `kubectl -n {ns} rollout history deployment/<service>`: did a rollout start the \
         burn? Roll back with `kubectl -n {ns} rollout undo deployment/<service>` (then \
         revert the commit, or Argo CD will roll it forward again).\n\
         3. Open the *Resilience* dashboard: is a dependency failing (503s from \
         dependencies, ejections)? Then follow that service's alert instead.\n",
        env = env.name,
        folder = env.monitoring.grafana_folder,
        ns = env.namespace,
    );
    for service in &env.slos.services {
        for slo in &service.slos {
            let what = format!("{} {}", service.name(), slo.kind.as_str());
            let bad = match slo.threshold {
                Some(t) => format!("requests slower than {t}"),
                None => "requests answered with a 5xx".to_owned(),
            };
            for tier in [Tier::Page, Tier::Ticket] {
                if !slo.alerts.on(tier) {
                    continue;
                }
                let suffix = if tier == Tier::Page { FAST } else { SLOW };
                let alert = alert_name(service.name(), slo.kind, suffix);
                out.push_str(&section(&alert));
                out.push_str(&format!(
                    "Severity `{}`. The share of {bad} by {} ({}) is high enough to spend:\n\n",
                    tier.severity(),
                    service.name(),
                    slo.objective
                ));
                for b in service.burn_windows().iter().filter(|b| b.tier == tier) {
                    out.push_str(&format!(
                        "- {}% of the {} error budget within {}: error ratio above {} ({}x) \
                         over {} and over {}\n",
                        b.budget_percent,
                        service.window,
                        b.long,
                        b.threshold(slo),
                        b.factor(),
                        b.long,
                        b.short
                    ));
                }
                if tier == Tier::Page {
                    out.push_str(&format!(
                        "\nIt does not page below {} (over {}).\n",
                        slo.min_request_rate,
                        service.burn_windows()[0].long
                    ));
                }
                out.push_str(&format!(
                    "\nLook at the *{} RED* dashboard by route and status to find the failing \
                     routes; {}.\n",
                    service.name(),
                    if slo.kind == SloKind::Latency {
                        "slow routes with a busy CPU point at capacity (see the Capacity \
                         dashboard), slow routes with an idle CPU at the database or a dependency"
                    } else {
                        "503s with `dependency_unavailable` point at a dependency, 500s at the \
                         service itself"
                    }
                ));
            }
            if slo.alerts.absent {
                let alert = alert_name(service.name(), slo.kind, ABSENT);
                out.push_str(&section(&alert));
                out.push_str(&format!(
                    "Severity `ticket`. Prometheus has no series of the {what} SLI: while it \
                     lasts no burn-rate alert can fire. Check that the pods run \
                     (`kubectl -n {} get pods -l {}={}`), that the target \
                     is up in Prometheus (Status > Targets), and that the metric names did not \
                     change.\n",
                    env.namespace,
                    kubestore_core::conventions::NAME_LABEL,
                    service.name()
                ));
            }
        }
    }
    for (alert, text) in [
        (
            HPA_AT_MAXIMUM,
            "Severity `ticket`. An autoscaler has run at `replicas.max` for 15 minutes. Check \
             the Capacity dashboard: if CPU per pod is at the target, traffic grew: raise \
             `replicas.max` in the environment file. If traffic did not grow, each request got \
             more expensive: look for a slow dependency or a regression in the last rollout.",
        ),
        (
            REPLICAS_UNAVAILABLE,
            "Severity `ticket`. A Deployment has had unavailable replicas for 10 minutes. \
             `kubectl describe pod` shows why: a crash loop (logs), a failing readiness probe \
             (its database or Redis), an image that cannot be pulled, or no node with room.",
        ),
        (
            OUTLIER_EJECTIONS,
            "Severity `ticket`. Istio's outlier detection has kept pods of a service out of \
             the load-balancing pool for 10 minutes. Find the ejected pods on the Resilience \
             dashboard and compare them with the healthy ones (node, version, logs). The \
             metric exists only when the sidecars include outlier-detection stats \
             (`proxyStatsMatcher` with `outlier_detection`).",
        ),
    ] {
        out.push_str(&section(alert));
        out.push_str(text);
        out.push('\n');
    }
    out
}

fn section(alert: &str) -> String {
    format!(
        "\n<a id=\"{}\"></a>\n## {alert}\n\n",
        alert.to_ascii_lowercase()
    )
}
