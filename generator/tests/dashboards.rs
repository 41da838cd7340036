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
use kubestore_gen::render::dashboards::{
    DASHBOARD_LABEL, FOLDER_ANNOTATION, TEMPLATES, dashboards, metric_names,
};
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

/// The `{{label}}` names a legend format interpolates.
fn legend_labels(legend: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = legend;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        out.push(rest[start + 2..start + end].trim().to_owned());
        rest = &rest[start + end + 2..];
    }
    out
}

/// The labels every series of `expr` is sure to carry, or `None` where that depends on
/// what the scraped target exports (a bare selector keeps all of its labels).
fn carried_labels(expr: &promql_parser::parser::Expr) -> Option<BTreeSet<String>> {
    use promql_parser::parser::value::ValueType;
    use promql_parser::parser::{Expr, LabelModifier};
    let names = |labels: &promql_parser::label::Labels| -> BTreeSet<String> {
        labels.labels.iter().cloned().collect()
    };
    match expr {
        Expr::Aggregate(a) => match &a.modifier {
            Some(LabelModifier::Include(by)) => Some(names(by)),
            Some(LabelModifier::Exclude(without)) => carried_labels(&a.expr)
                .map(|inner| inner.difference(&names(without)).cloned().collect()),
            None => Some(BTreeSet::new()),
        },
        Expr::Paren(p) => carried_labels(&p.expr),
        Expr::Unary(u) => carried_labels(&u.expr),
        Expr::Subquery(s) => carried_labels(&s.expr),
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => None,
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {
            Some(BTreeSet::new())
        }
        Expr::Call(call) => {
            let args = &call.args.args;
            match call.func.name {
                "vector" | "time" | "scalar" => Some(BTreeSet::new()),
                "histogram_quantile" => carried_labels(&args[1]).map(|mut l| {
                    l.remove("le");
                    l
                }),
                "label_replace" => carried_labels(&args[0]).map(|mut l| {
                    if let Expr::StringLiteral(dst) = &*args[1] {
                        l.insert(dst.val.clone());
                    }
                    l
                }),
                _ => args
                    .iter()
                    .find(|a| matches!(a.value_type(), ValueType::Vector | ValueType::Matrix))
                    .and_then(|a| carried_labels(a)),
            }
        }
        Expr::Binary(b) => {
            let (lhs, rhs) = (carried_labels(&b.lhs), carried_labels(&b.rhs));
            match b.op.to_string().as_str() {
                // A series may come from either side, so only labels both carry are sure.
                "or" => match (lhs, rhs) {
                    (Some(l), Some(r)) => Some(l.intersection(&r).cloned().collect()),
                    (l, r) => l.or(r),
                },
                "and" | "unless" => lhs,
                _ if b.lhs.value_type() == ValueType::Scalar => rhs,
                _ => lhs,
            }
        }
    }
}

/// A legend that names a label some series of its query lack shows a blank there (a
/// quiet route's zero-fallback series has no `status`), so each `{{label}}` of a legend
/// must be one the query keeps: its outer `by (...)`, through `or`, arithmetic and
/// `label_replace`.
#[test]
fn legends_name_only_labels_their_queries_keep() {
    let mut wrong = Vec::new();
    for env in environments() {
        for dashboard in dashboards(&env).unwrap() {
            for panel in panels(&dashboard.json) {
                for target in panel["targets"].as_array().into_iter().flatten() {
                    let expr = substituted(target["expr"].as_str().unwrap());
                    let legend = target["legendFormat"].as_str().unwrap_or_default();
                    let parsed = promql_parser::parser::parse(&expr)
                        .unwrap_or_else(|e| panic!("{expr}: {e}"));
                    let Some(kept) = carried_labels(&parsed) else {
                        continue;
                    };
                    for label in legend_labels(legend) {
                        if !kept.contains(&label) {
                            wrong.push(format!(
                                "{} {} / {}: legend `{legend}` names `{label}`, the query keeps {kept:?}",
                                env.name, dashboard.slug, panel["title"]
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Two panels plotting the same queries means one of them shows another panel's data
/// under its own title. (One query may appear in two panels beside others: a burn-rate
/// window is the long window of one alert and the short one of the next.)
#[test]
fn no_two_panels_of_a_dashboard_plot_the_same_queries() {
    for env in environments() {
        for dashboard in dashboards(&env).unwrap() {
            let mut seen: std::collections::BTreeMap<Vec<String>, String> = Default::default();
            for panel in panels(&dashboard.json) {
                let title = panel["title"].as_str().unwrap_or_default().to_owned();
                let exprs: Vec<String> = panel["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| t["expr"].as_str().unwrap().to_owned())
                    .collect();
                if exprs.is_empty() {
                    continue;
                }
                if let Some(first) = seen.insert(exprs.clone(), title.clone()) {
                    panic!(
                        "{} {}: `{first}` and `{title}` both plot {exprs:?}",
                        env.name, dashboard.slug
                    );
                }
            }
        }
    }
}

/// Every metric name a PromQL expression selects.
fn selected_metrics(expr: &promql_parser::parser::Expr, out: &mut BTreeSet<String>) {
    use promql_parser::parser::Expr;
    match expr {
        Expr::VectorSelector(v) => out.extend(v.name.clone()),
        Expr::MatrixSelector(m) => out.extend(m.vs.name.clone()),
        Expr::Aggregate(a) => selected_metrics(&a.expr, out),
        Expr::Paren(p) => selected_metrics(&p.expr, out),
        Expr::Unary(u) => selected_metrics(&u.expr, out),
        Expr::Subquery(s) => selected_metrics(&s.expr, out),
        Expr::Binary(b) => {
            selected_metrics(&b.lhs, out);
            selected_metrics(&b.rhs, out);
        }
        Expr::Call(c) => c.args.args.iter().for_each(|a| selected_metrics(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// A metric name has one home: the templates get every name from the generator
/// (`metric.<key>`, or the SLO series in their context), so none is spelled in a template
/// and every name a rendered query selects is one the generator handed over.
#[test]
fn metric_names_come_from_the_generator_not_the_templates() {
    let known = metric_names();
    let looks_like_a_metric = |word: &str| {
        ["_total", "_bucket", "_count", "_sum", "_seconds", "_bytes"]
            .iter()
            .any(|suffix| word.ends_with(suffix))
            || [
                "envoy_",
                "istio_",
                "kube_",
                "container_",
                "http_request",
                "slo:",
            ]
            .iter()
            .any(|prefix| word.starts_with(prefix))
    };
    for (template, source) in TEMPLATES {
        for name in known.values() {
            assert!(
                !source.contains(name.as_str()),
                "{template} spells `{name}`: use its metric.<key>"
            );
        }
        for word in source.split(|c: char| !(c.is_ascii_alphanumeric() || "_:.".contains(c))) {
            assert!(
                word.starts_with("metric.") || !looks_like_a_metric(word),
                "{template} spells what looks like a metric name: `{word}`"
            );
        }
    }
    for env in environments() {
        for dashboard in dashboards(&env).unwrap() {
            for panel in panels(&dashboard.json) {
                for target in panel["targets"].as_array().into_iter().flatten() {
                    let expr = substituted(target["expr"].as_str().unwrap());
                    let mut names = BTreeSet::new();
                    selected_metrics(&promql_parser::parser::parse(&expr).unwrap(), &mut names);
                    for name in names {
                        // The recorded SLO series come from kubestore_core::sli through
                        // the `services` context.
                        assert!(
                            known.values().any(|k| *k == name) || name.starts_with("slo:"),
                            "{} {} / {}: `{name}` is not a name the generator hands over",
                            env.name,
                            dashboard.slug,
                            panel["title"]
                        );
                    }
                }
            }
        }
    }
}

/// A query variable set twice in one template is how a panel came to plot the panel
/// before it: so each `{% set %}` name appears once per template (a loop body counts
/// once).
#[test]
fn every_template_variable_is_set_once() {
    for (template, source) in TEMPLATES {
        let mut names = BTreeSet::new();
        for (at, _) in source.match_indices("set ") {
            if !source[..at].trim_end_matches('-').ends_with("{%")
                && !source[..at]
                    .trim_end()
                    .trim_end_matches('-')
                    .ends_with("{%")
            {
                continue;
            }
            let name: String = source[at + 4..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                names.insert(name.clone()),
                "{template}: `{name}` is set twice; give each query its own name"
            );
        }
    }
}
