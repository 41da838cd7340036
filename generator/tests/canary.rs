//! Canary releases as rendered for every environment that chooses them: promtool parses
//! every analysis query and, on known traffic, the rendered conditions pass a good
//! canary, fail a bad one and leave a starved one Inconclusive; the weighted routes keep
//! each route's retries and timeout exactly; the Rollout names every route that reaches
//! its service, and the objects around it point at it.

mod common;

use common::{environments, promtool};

use kubestore_core::canary::{CANARY_HASH_ARG, STABLE_HASH_ARG, arg};
use kubestore_core::model::slo::SliSource;
use kubestore_core::model::{Environment, ReleaseStrategy};
use kubestore_gen::render::canary::{analysis_template, rollout, routes_reaching};
use kubestore_gen::render::{mesh_policy, render_all};
use serde_json::{Value, json};

fn canary_environments() -> Vec<Environment> {
    let envs: Vec<Environment> = environments()
        .into_iter()
        .filter(|e| e.services.iter().any(|s| s.release.is_canary()))
        .collect();
    assert!(
        envs.iter().any(|e| e.name == "prod") && envs.iter().any(|e| e.name == "staging"),
        "staging and prod release by canary"
    );
    envs
}

/// The rendered metrics of a service's AnalysisTemplate: (name, query, success, failure).
fn metrics(env: &Environment, service: &str) -> Vec<(String, String, String, String)> {
    let service = env.service(service).expect("a service");
    let template = serde_json::to_value(analysis_template(env, service)).unwrap();
    template["spec"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = |key: &str| m[key].as_str().unwrap_or_default().to_owned();
            (
                text("name"),
                m["provider"]["prometheus"]["query"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                text("successCondition"),
                text("failureCondition"),
            )
        })
        .collect()
}

fn with_hashes(query: &str, canary: &str, stable: &str) -> String {
    let out = query
        .replace(&arg(CANARY_HASH_ARG), canary)
        .replace(&arg(STABLE_HASH_ARG), stable);
    assert!(!out.contains("{{"), "an argument is left in {out}");
    out
}

#[test]
fn promtool_parses_every_analysis_query() {
    let mut rules = Vec::new();
    for env in canary_environments() {
        for service in env.services.iter().filter(|s| s.release.is_canary()) {
            let metrics = metrics(&env, service.name());
            // The traffic, then a burn and a comparison per SLO (availability, latency).
            assert_eq!(metrics.len(), 5, "{}: {metrics:?}", service.name());
            for (name, query, _, _) in metrics {
                rules.push(json!({
                    "record": format!("check:{}:{}", env.name, name.replace('-', "_")),
                    "expr": with_hashes(&query, "c0ffee", "5ab1e"),
                }));
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("analysis.yaml");
    let text = serde_saphyr::to_string(&json!({"groups": [{"name": "analysis", "rules": rules}]}))
        .unwrap();
    std::fs::write(&file, text).unwrap();
    promtool(&["check", "rules", "analysis.yaml"], tmp.path());
}

/// A rendered condition as PromQL that answers 1 where it holds: each
/// `result[0] <op> <n>` clause becomes `(query) <op> bool <n>`, and `&&` a product.
fn condition_expr(query: &str, condition: &str) -> Option<String> {
    if condition.is_empty() {
        return None;
    }
    let clauses: Vec<String> = condition
        .split(" && ")
        .map(|clause| {
            let rest = clause
                .strip_prefix("result[0] ")
                .unwrap_or_else(|| panic!("unexpected condition {condition}"));
            let (op, n) = rest.split_once(' ').expect("an operator and a number");
            assert!(
                [">=", "<=", ">", "<"].contains(&op),
                "unexpected operator in {condition}"
            );
            format!("(({query}) {op} bool {n})")
        })
        .collect();
    Some(clauses.join(" * "))
}

#[test]
fn the_rendered_gate_passes_a_good_canary_fails_a_bad_one_and_waits_on_little_traffic() {
    let env = environments()
        .into_iter()
        .find(|e| e.name == "prod")
        .unwrap();
    let slos = env.slos.service("orders").unwrap();
    assert_eq!(slos.source, SliSource::Mesh, "prod measures in the mesh");
    let ns = &env.namespace;
    // Counters scraped every 15s for 10 minutes; per minute: `per_step x 4`.
    let counter = |metric: &str, hash: &str, label: Option<(&str, &str)>, per_step: f64| {
        let extra = label
            .map(|(k, v)| format!(",{k}=\"{v}\""))
            .unwrap_or_default();
        json!({
            "series": format!(
                "{metric}{{destination_workload=\"orders\",\
                 destination_workload_namespace=\"{ns}\",reporter=\"destination\",\
                 rollouts_pod_template_hash=\"{hash}\"{extra}}}"
            ),
            "values": format!("0+{per_step}x40"),
        })
    };
    let series = |hash: &str, code: &str, per_step: f64| {
        counter(
            "istio_requests_total",
            hash,
            Some(("response_code", code)),
            per_step,
        )
    };
    let bucket = |hash: &str, le: &str, per_step: f64| {
        counter(
            "istio_request_duration_milliseconds_bucket",
            hash,
            Some(("le", le)),
            per_step,
        )
    };
    let count = |hash: &str, per_step: f64| {
        counter(
            "istio_request_duration_milliseconds_count",
            hash,
            None,
            per_step,
        )
    };
    // Stable: 6000 requests a minute, 0.05% failing, all fast. Good canary: 600 a minute,
    // none failing, all fast. Bad canary: 600 a minute, 5% failing (burn 50 against
    // 99.9%) and slow. Starved canary: 40 a minute.
    let input = vec![
        series("stable", "200", 1499.25),
        series("stable", "503", 0.75),
        bucket("stable", "250", 1500.0),
        count("stable", 1500.0),
        series("good", "200", 150.0),
        bucket("good", "250", 150.0),
        count("good", 150.0),
        series("bad", "200", 142.5),
        series("bad", "503", 7.5),
        bucket("bad", "250", 120.0),
        count("bad", 150.0),
        series("starved", "200", 10.0),
        bucket("starved", "250", 10.0),
        count("starved", 10.0),
    ];
    // (canary, metric name suffix, condition kind) -> whether it holds.
    let expected: &[(&str, &str, &str, bool)] = &[
        ("good", "canary-requests", "success", true),
        ("good", "availability-canary-burn", "success", true),
        ("good", "availability-canary-burn", "failure", false),
        ("good", "latency-canary-burn", "success", true),
        ("good", "availability-canary-vs-stable", "failure", false),
        ("good", "latency-canary-vs-stable", "failure", false),
        ("bad", "canary-requests", "success", true),
        ("bad", "availability-canary-burn", "failure", true),
        ("bad", "latency-canary-burn", "failure", true),
        ("bad", "availability-canary-vs-stable", "failure", true),
        ("bad", "latency-canary-vs-stable", "failure", true),
        // Too little traffic: neither condition holds, so Argo Rollouts records the
        // measurement as Inconclusive, never as a pass.
        ("starved", "canary-requests", "success", false),
        ("starved", "canary-requests", "failure", false),
        ("starved", "availability-canary-burn", "success", false),
        ("starved", "availability-canary-burn", "failure", false),
        ("starved", "latency-canary-burn", "success", false),
        ("starved", "latency-canary-burn", "failure", false),
        ("starved", "availability-canary-vs-stable", "failure", false),
    ];
    let metrics = metrics(&env, "orders");
    let mut tests = Vec::new();
    for &(canary, suffix, kind, holds) in expected {
        let (_, query, success, failure) = metrics
            .iter()
            .find(|m| m.0.ends_with(suffix))
            .unwrap_or_else(|| panic!("no metric {suffix}"));
        let condition = if kind == "success" { success } else { failure };
        let expr = condition_expr(&with_hashes(query, canary, "stable"), condition)
            .unwrap_or_else(|| panic!("{suffix} has no {kind} condition"));
        tests.push(json!({
            "expr": expr,
            "eval_time": "5m",
            "exp_samples": [{"labels": "{}", "value": if holds { 1 } else { 0 }}],
        }));
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("empty.yaml"), "groups: []\n").unwrap();
    let file = json!({
        "rule_files": ["empty.yaml"],
        "evaluation_interval": "15s",
        "tests": [{"interval": "15s", "input_series": input, "promql_expr_test": tests}],
    });
    std::fs::write(
        tmp.path().join("gate.yaml"),
        serde_saphyr::to_string(&file).unwrap(),
    )
    .unwrap();
    promtool(&["test", "rules", "gate.yaml"], tmp.path());
}

/// A route as JSON without its destinations, the one part a canary changes.
fn without_destinations(route: &impl serde::Serialize) -> Value {
    let mut value = serde_json::to_value(route).unwrap();
    value.as_object_mut().unwrap().remove("route");
    value
}

#[test]
fn weighted_routes_keep_every_retry_and_timeout() {
    for env in canary_environments() {
        let mut rolling = env.clone();
        for service in &mut rolling.services {
            service.release.strategy = ReleaseStrategy::Rolling;
        }
        let canary = mesh_policy(&env);
        let plain = mesh_policy(&rolling);
        let pairs = canary
            .virtual_services
            .iter()
            .map(|(host, vs)| (host.clone(), vs, &plain.virtual_services[host]))
            .chain([("ingress".to_owned(), &canary.ingress, &plain.ingress)]);
        for (host, weighted, before) in pairs {
            assert_eq!(weighted.http.len(), before.http.len());
            for (w, b) in weighted.http.iter().zip(&before.http) {
                assert_eq!(
                    without_destinations(w),
                    without_destinations(b),
                    "{} {host}: route {} changed beyond its destinations",
                    env.name,
                    w.name
                );
                let weights: Vec<Value> = serde_json::to_value(&w.route)
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| json!([d["destination"]["subset"], d["weight"]]))
                    .collect();
                assert_eq!(
                    weights,
                    vec![json!(["stable", 100]), json!(["canary", 0])],
                    "{} {host} {}",
                    env.name,
                    w.name
                );
            }
        }
        // What a shopper would notice: a keyed checkout is still retried through the
        // split, a key-less one never is.
        let orders = &canary.virtual_services["orders"];
        let route = |name: &str| orders.http.iter().find(|r| r.name == name).unwrap();
        let keyed = route("post-v1-orders-keyed").retries.as_ref().unwrap();
        assert!(
            keyed.attempts > 0,
            "{}: keyed checkout not retried",
            env.name
        );
        let keyless = route("post-v1-orders").retries.as_ref().unwrap();
        assert_eq!(
            keyless.attempts, 0,
            "{}: key-less checkout retried",
            env.name
        );
        assert_eq!(route("post-v1-orders").route.len(), 2);
    }
}

#[test]
fn each_rollout_names_every_route_reaching_its_service_and_owns_its_pods() {
    for env in canary_environments() {
        let objects = render_all(&env);
        let find = |kind: &str, name: &str| -> Value {
            objects
                .iter()
                .find(|o| o.value["kind"] == kind && o.value["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{}: no {kind} {name}", env.name))
                .value
                .clone()
        };
        for service in env.services.iter().filter(|s| s.release.is_canary()) {
            let name = service.name();
            let rollout = serde_json::to_value(rollout(&env, service)).unwrap();
            assert_eq!(rollout["spec"]["workloadRef"]["name"], name);
            let istio = &rollout["spec"]["strategy"]["canary"]["trafficRouting"]["istio"];
            let named = istio["virtualServices"].as_array().unwrap();
            assert_eq!(named.len(), routes_reaching(&env, service).len());
            for vs in named {
                let rendered = find("VirtualService", vs["name"].as_str().unwrap());
                let routes: Vec<&Value> = rendered["spec"]["http"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| &r["name"])
                    .collect();
                let listed: Vec<&Value> = vs["routes"].as_array().unwrap().iter().collect();
                assert_eq!(listed, routes, "{} {name}", env.name);
            }
            // The steps are the environment's, each weight held for its pause.
            let steps: Vec<Value> = service
                .release
                .steps
                .iter()
                .flat_map(|s| {
                    [
                        json!({"setWeight": s.weight}),
                        json!({"pause": {"duration": s.pause.to_string()}}),
                    ]
                })
                .collect();
            assert_eq!(rollout["spec"]["strategy"]["canary"]["steps"], json!(steps));
            let analysis = &rollout["spec"]["strategy"]["canary"]["analysis"];
            assert_eq!(analysis["startingStep"], 1, "measured from the first pause");
            assert_eq!(
                analysis["args"],
                json!([
                    {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
                    {"name": "stable-hash", "valueFrom": {"podTemplateHashValue": "Stable"}},
                ])
            );
            // A failed measurement aborts at once, an inconclusive one pauses; each covers
            // one whole interval of canary traffic, asked of the environment's Prometheus.
            let template = find(
                "AnalysisTemplate",
                analysis["templates"][0]["templateName"].as_str().unwrap(),
            );
            let interval = service.release.analysis_interval.to_string();
            for metric in template["spec"]["metrics"].as_array().unwrap() {
                assert_eq!(metric["failureLimit"], 0);
                assert_eq!(metric["inconclusiveLimit"], 0);
                assert_eq!(metric["interval"], interval.as_str());
                assert_eq!(metric["initialDelay"], interval.as_str());
                assert_eq!(
                    metric["provider"]["prometheus"]["address"],
                    env.monitoring.prometheus_url.as_str()
                );
            }
            let rule = find("DestinationRule", name);
            let subsets: Vec<&Value> = rule["spec"]["subsets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| &s["name"])
                .collect();
            assert_eq!(subsets, [&json!("stable"), &json!("canary")]);
            if service.replicas.autoscaled() {
                let hpa = find("HorizontalPodAutoscaler", name);
                assert_eq!(
                    hpa["spec"]["scaleTargetRef"],
                    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": name})
                );
            }
            // The PDB and the Deployment select the same pods the Rollout runs: its
            // ReplicaSets copy the Deployment's template labels.
            let deployment = find("Deployment", name);
            let pdb = find("PodDisruptionBudget", name);
            let labels = &deployment["spec"]["template"]["metadata"]["labels"];
            for (key, value) in pdb["spec"]["selector"]["matchLabels"].as_object().unwrap() {
                assert_eq!(
                    &labels[key], value,
                    "{} {name}: PDB selects {key}",
                    env.name
                );
            }
        }
    }
}
