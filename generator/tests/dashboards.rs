//! The dashboards: each is JSON Grafana loads (unique panel ids, current schema, the data
//! source through the `datasource` variable, a title, description and unit per panel,
//! rates over `$__rate_interval`), shipped in a sidecar ConfigMap; and every PromQL
//! expression of the dashboards, the rules and the OpenSLO documents parses, which
//! `promtool check rules` decides for a generated rules file holding each expression as a
//! recording rule.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use kubestore_core::model::Environment;
use kubestore_gen::render::dashboards::{DASHBOARD_LABEL, FOLDER_ANNOTATION, dashboards};
use serde_json::{Value, json};

fn environments() -> Vec<Environment> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments");
    kubestore_gen::Environments::read(&dir)
        .expect("environments folder")
        .load_all()
        .expect("the environments are valid")
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        out.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            out.extend(nested);
        }
    }
    out
}

#[test]
fn every_dashboard_is_valid_grafana_json() {
    for env in environments() {
        let rendered = dashboards(&env).unwrap_or_else(|e| panic!("{}: {e}", env.name));
        assert_eq!(rendered.len(), 4 + env.services.len());
        let mut uids = BTreeSet::new();
        for dashboard in rendered {
            let json = &dashboard.json;
            let name = format!("{} {}", env.name, dashboard.slug);
            assert!(uids.insert(dashboard.uid.clone()), "{name}: duplicate uid");
            assert!(dashboard.uid.len() <= 40, "{name}: uid too long");
            assert_eq!(json["uid"], dashboard.uid.as_str());
            assert!(json["schemaVersion"].as_u64().unwrap() >= 39, "{name}");
            let variables = json["templating"]["list"].as_array().unwrap();
            assert!(
                variables
                    .iter()
                    .any(|v| v["name"] == "datasource" && v["type"] == "datasource"),
                "{name}: no datasource variable"
            );
            let mut ids = BTreeSet::new();
            for panel in panels(json) {
                let title = panel["title"].as_str().unwrap_or_default();
                assert!(!title.is_empty(), "{name}: a panel without a title");
                let id = panel["id"].as_u64().expect("panel id");
                assert!(ids.insert(id), "{name}: panel id {id} twice");
                let grid = &panel["gridPos"];
                assert!(grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24);
                if panel["type"] == "row" {
                    continue;
                }
                assert!(
                    !panel["description"].as_str().unwrap_or_default().is_empty(),
                    "{name}/{title}: no description"
                );
                assert!(
                    panel["fieldConfig"]["defaults"]["unit"].is_string(),
                    "{name}/{title}: no unit"
                );
                assert_eq!(
                    panel["datasource"]["uid"], "${datasource}",
                    "{name}/{title}"
                );
                for target in panel["targets"].as_array().unwrap() {
                    assert_eq!(
                        target["datasource"]["uid"], "${datasource}",
                        "{name}/{title}"
                    );
                    let expr = target["expr"].as_str().unwrap();
                    for function in ["rate(", "increase("] {
                        for (at, _) in expr.match_indices(function) {
                            let rest = &expr[at..];
                            // The range follows the selector's closing brace.
                            let range = rest.find("}[").map(|i| &rest[i..]).unwrap_or("");
                            assert!(
                                range.starts_with("}[$__rate_interval]"),
                                "{name}/{title}: {function} over a fixed range in {expr}"
                            );
                        }
                    }
                }
            }
            // No data source is pinned anywhere: every `uid` under a datasource is the
            // variable.
            let text = json.to_string();
            assert!(!text.contains("\"uid\":\"prometheus\""), "{name}");
        }
    }
}

#[test]
fn dashboards_ship_as_sidecar_configmaps() {
    for env in environments() {
        let objects = kubestore_gen::render::render_monitoring(&env);
        let maps: Vec<_> = objects
            .iter()
            .filter(|o| o.value["kind"] == "ConfigMap")
            .collect();
        assert_eq!(maps.len(), 4 + env.services.len());
        for map in maps {
            let meta = &map.value["metadata"];
            assert_eq!(meta["labels"][DASHBOARD_LABEL], "1");
            assert_eq!(
                meta["annotations"][FOLDER_ANNOTATION],
                env.monitoring.grafana_folder.as_str()
            );
            let data = map.value["data"].as_object().unwrap();
            assert_eq!(data.len(), 1);
            for (key, text) in data {
                assert!(key.ends_with(".json"));
                let parsed: Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
                assert_eq!(format!("{}.json", parsed["uid"].as_str().unwrap()), *key);
            }
        }
    }
}

/// Grafana's variables replaced by what Grafana would put there, so promtool can parse
/// the query; any other `$` left over is a template mistake.
fn substituted(expr: &str) -> String {
    let out = expr
        .replace("$__rate_interval", "5m")
        .replace("$window", "10m");
    assert!(!out.contains('$'), "unknown variable in {expr}");
    out
}

#[test]
fn every_promql_expression_parses() {
    let mut exprs: Vec<(String, String)> = Vec::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let envs = environments();
    for env in &envs {
        for dashboard in dashboards(env).unwrap() {
            for panel in panels(&dashboard.json) {
                for target in panel["targets"].as_array().into_iter().flatten() {
                    exprs.push((
                        format!("{} {} {}", env.name, dashboard.slug, panel["title"]),
                        substituted(target["expr"].as_str().unwrap()),
                    ));
                }
            }
        }
    }
    let tree = kubestore_gen::pipeline::render_tree(&envs, &envs, &repo.join("environments"));
    for (path, text) in &tree {
        if path.starts_with("slo/") {
            let document: Value = serde_saphyr::from_str(text).unwrap();
            let annotations = document["metadata"]["annotations"].as_object().unwrap();
            let ratio = &document["spec"]["indicator"]["spec"]["ratioMetric"];
            let mut queries = vec![
                annotations["kubestore.dev/error-ratio-query"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                annotations["kubestore.dev/recorded-error-ratio"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ];
            for key in ["good", "bad", "total"] {
                if let Some(q) = ratio[key]["metricSource"]["spec"]["query"].as_str() {
                    queries.push(q.to_owned());
                }
            }
            for q in queries {
                exprs.push((path.clone(), substituted(&q)));
            }
        }
    }
    assert!(exprs.len() > 300, "only {} expressions", exprs.len());
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| json!({"record": format!("kubestore_check_expr_{i}"), "expr": expr}))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("expressions.yaml");
    let text =
        serde_saphyr::to_string(&json!({"groups": [{"name": "check", "rules": rules}]})).unwrap();
    std::fs::write(&file, text).unwrap();
    let output = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("promtool is required (apt-get install -y prometheus): {e}"));
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        // Name the expressions promtool points at (`group "check", rule N`).
        let mut culprits = Vec::new();
        for (i, (origin, expr)) in exprs.iter().enumerate() {
            if report.contains(&format!("rule {}", i + 1)) {
                culprits.push(format!("{origin}: {expr}"));
            }
        }
        panic!("{report}\n{}", culprits.join("\n"));
    }
}
