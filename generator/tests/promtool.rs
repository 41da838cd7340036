//! The SLO rules against Prometheus's own tooling: `promtool check rules` accepts every
//! rendered rules file, and `promtool test rules` proves with synthetic series that each
//! burn-rate alert fires just above its threshold (10% above) and stays silent just below
//! it (10% below), that paging is held back at low traffic, and that the absent alert
//! fires when an SLI's series are gone.
//!
//! promtool is required: CI installs it (`apt-get install -y prometheus`), so a missing
//! promtool fails these tests instead of skipping them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use kubestore_core::model::Environment;
use kubestore_core::model::slo::{BurnWindow, ServiceSlos, SliSource, Slo, SloKind, Tier};
use kubestore_core::sli::{self, alert_name, sli_metrics, slo_labels};
use kubestore_gen::crds::monitoring::RuleGroup;
use kubestore_gen::render::slo_rules;
use serde_json::{Value, json};

fn environments() -> Vec<Environment> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments");
    kubestore_gen::Environments::read(&dir)
        .expect("environments folder")
        .load_all()
        .expect("the environments are valid")
}

/// Runs promtool, failing the test with its output when it fails or is missing.
pub fn promtool(args: &[&str], dir: &Path) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("promtool is required (apt-get install -y prometheus): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn write_yaml(path: &Path, value: &Value) {
    let text = serde_saphyr::to_string(value).expect("YAML");
    std::fs::write(path, text).expect("write");
}

#[test]
fn promtool_accepts_every_rendered_rules_file_and_prometheus_config() {
    let envs = environments();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments");
    let tree = kubestore_gen::pipeline::render_tree(&envs, &envs, &dir);
    let tmp = tempfile::tempdir().expect("temp dir");
    for env in &envs {
        let folder = tmp.path().join(&env.name);
        std::fs::create_dir_all(&folder).expect("mkdir");
        for file in ["rules.yaml", "prometheus.yml"] {
            let text = &tree[&format!("prometheus/{}/{file}", env.name)];
            std::fs::write(folder.join(file), text).expect("write");
        }
        let out = promtool(&["check", "rules", "rules.yaml"], &folder);
        assert!(out.contains("SUCCESS"), "{out}");
        promtool(&["check", "config", "prometheus.yml"], &folder);
        // The PrometheusRule objects hold the very same groups.
        let mut from_objects = Vec::new();
        for (path, text) in &tree {
            if path.starts_with(&format!("overlays/{}/", env.name))
                && path.ends_with("-prometheusrule.yaml")
            {
                let object: Value = serde_saphyr::from_str(text).expect("YAML");
                from_objects.extend(object["spec"]["groups"].as_array().cloned().unwrap());
            }
        }
        let plain: Value =
            serde_saphyr::from_str(&tree[&format!("prometheus/{}/rules.yaml", env.name)])
                .expect("YAML");
        let mut names: Vec<_> = from_objects.iter().map(|g| g["name"].clone()).collect();
        let mut plain_names: Vec<_> = plain["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].clone())
            .collect();
        names.sort_by_key(ToString::to_string);
        plain_names.sort_by_key(ToString::to_string);
        assert_eq!(names, plain_names);
    }
}

/// One phase of synthetic traffic: `steps` samples at `rate` requests per second, of
/// which the share `bad` is bad.
#[derive(Clone, Copy)]
struct Phase {
    steps: u64,
    rate: f64,
    bad: f64,
}

/// promtool's expanding notation for a counter through `phases`, one sample per step,
/// starting at 0 at time 0.
fn counter(phases: &[Phase], interval_s: f64, share: impl Fn(&Phase) -> f64) -> String {
    let mut out = String::new();
    let mut value = 0.0_f64;
    for (i, phase) in phases.iter().enumerate() {
        let step = phase.rate * interval_s * share(phase);
        if i == 0 {
            write!(out, "0+{step}x{}", phase.steps).unwrap();
            value = step * phase.steps as f64;
        } else {
            value += step;
            write!(out, " {value}+{step}x{}", phase.steps - 1).unwrap();
            value += step * (phase.steps - 1) as f64;
        }
    }
    out
}

/// The input series that produce `phases` for `slo`'s SLI.
fn series(
    env: &Environment,
    service: &ServiceSlos,
    slo: &Slo,
    phases: &[Phase],
    interval_s: f64,
) -> Vec<Value> {
    let m = sli_metrics(env, service, slo);
    let good = |p: &Phase| 1.0 - p.bad;
    let bad = |p: &Phase| p.bad;
    let all = |_: &Phase| 1.0;
    match slo.kind {
        SloKind::Availability => {
            let status = match service.source {
                SliSource::App => "status",
                SliSource::Mesh => "response_code",
            };
            let with = |code: &str| m.total.replace('}', &format!(",{status}=\"{code}\"}}"));
            vec![
                json!({"series": with("200"), "values": counter(phases, interval_s, good)}),
                json!({"series": with("500"), "values": counter(phases, interval_s, bad)}),
            ]
        }
        SloKind::Latency => vec![
            json!({"series": m.total, "values": counter(phases, interval_s, all)}),
            json!({"series": m.subset, "values": counter(phases, interval_s, good)}),
        ],
    }
}

/// Steps of `interval_s` seconds in `ms` milliseconds.
fn steps(ms: u64, interval_s: u64) -> u64 {
    ms / 1000 / interval_s
}

fn threshold(b: &BurnWindow, slo: &Slo) -> f64 {
    b.threshold(slo).parse().expect("a decimal")
}

/// The labels an SLO alert carries.
fn alert_labels(env: &Environment, service: &ServiceSlos, slo: &Slo, severity: &str) -> Value {
    let mut labels = slo_labels(env, service, slo);
    labels.insert("severity".into(), severity.into());
    json!(labels)
}

fn secs(seconds: u64) -> String {
    format!("{seconds}s")
}

struct Case {
    name: String,
    phases: Vec<Phase>,
    alert: String,
    fires: bool,
    severity: &'static str,
}

/// Test groups for one tier of one SLO.
fn tier_cases(service: &ServiceSlos, slo: &Slo, tier: Tier, interval_s: u64) -> Vec<Case> {
    let windows: Vec<BurnWindow> = service
        .burn_windows()
        .into_iter()
        .filter(|b| b.tier == tier)
        .collect();
    let (first, second) = (windows[0], windows[1]);
    let rate = (slo.min_request_rate.micro() as f64 / 1e6 * 4.0).max(10.0);
    let suffix = match tier {
        Tier::Page => "FastBurn",
        Tier::Ticket => "SlowBurn",
    };
    let alert = alert_name(service.name(), slo.kind, suffix);
    let severity = tier.severity();
    let mut cases = Vec::new();
    let mut case = |name: String, phases: Vec<Phase>, fires: bool| {
        cases.push(Case {
            name,
            phases,
            alert: alert.clone(),
            fires,
            severity,
        })
    };
    let n = |ms: u64| steps(ms, interval_s);
    match tier {
        Tier::Page => {
            // The first condition alone: clean traffic for the second long window, then
            // errors for the first long window only, so the second condition stays false.
            for (factor, fires) in [(1.1, true), (0.9, false)] {
                let bad = threshold(&first, slo) * factor;
                case(
                    format!(
                        "{}x threshold over {} and {}",
                        factor, first.long, first.short
                    ),
                    vec![
                        Phase {
                            steps: n(second.long.millis()),
                            rate,
                            bad: 0.0,
                        },
                        Phase {
                            steps: n(first.long.millis()),
                            rate,
                            bad,
                        },
                    ],
                    fires,
                );
            }
            // The second condition alone: a steady burn below the first threshold.
            for (factor, fires) in [(1.1, true), (0.9, false)] {
                let bad = threshold(&second, slo) * factor;
                case(
                    format!(
                        "{}x threshold over {} and {}",
                        factor, second.long, second.short
                    ),
                    vec![Phase {
                        steps: n(second.long.millis()),
                        rate,
                        bad,
                    }],
                    fires,
                );
            }
            // Low traffic: the same burn as the first case, at half the floor.
            if slo.min_request_rate.micro() > 0 {
                let low = slo.min_request_rate.micro() as f64 / 1e6 / 2.0;
                let bad = threshold(&first, slo) * 1.1;
                case(
                    format!("burning at {low}/s, below the floor"),
                    vec![
                        Phase {
                            steps: n(second.long.millis()),
                            rate: low,
                            bad: 0.0,
                        },
                        Phase {
                            steps: n(first.long.millis()),
                            rate: low,
                            bad,
                        },
                    ],
                    false,
                );
            }
        }
        Tier::Ticket => {
            for (window, factor, fires) in [
                (second, 1.1, true),
                (second, 0.9, false),
                (first, 1.1, true),
            ] {
                // Below the second (lowest) threshold neither condition holds.
                let bad = threshold(&window, slo) * factor;
                case(
                    format!(
                        "{}x threshold over {} and {}",
                        factor, window.long, window.short
                    ),
                    vec![Phase {
                        steps: n(window.long.millis()),
                        rate,
                        bad,
                    }],
                    fires,
                );
            }
        }
    }
    cases
}

/// Sample interval for a tier: at least four samples in its shortest window.
fn interval_for(service: &ServiceSlos, tier: Tier) -> u64 {
    let shortest = service
        .burn_windows()
        .iter()
        .filter(|b| b.tier == tier)
        .map(|b| b.short.millis() / 1000)
        .min()
        .unwrap();
    let windows: Vec<u64> = service
        .burn_windows()
        .iter()
        .filter(|b| b.tier == tier)
        .flat_map(|b| [b.long.millis() / 1000, b.short.millis() / 1000])
        .collect();
    [600, 300, 120, 60, 30, 20, 10]
        .into_iter()
        .find(|i| i * 4 <= shortest && windows.iter().all(|w| w % i == 0))
        .unwrap_or(10)
}

/// The rules promtool evaluates in the unit tests: the service's groups, without
/// annotations (their `$value` text would have to be predicted to the last digit; the
/// templates are checked by `promtool check rules`).
fn service_rules(env: &Environment, service: &ServiceSlos) -> Value {
    let prefix = format!("kubestore-{}-{}-", env.name, service.name());
    let groups: Vec<RuleGroup> = slo_rules::groups(env)
        .into_iter()
        .filter(|g| g.name.starts_with(&prefix))
        .map(|mut g| {
            for rule in &mut g.rules {
                rule.annotations = BTreeMap::new();
            }
            g
        })
        .collect();
    json!({ "groups": groups })
}

/// Recordings first, then the alerts that read them, at every evaluation.
fn group_order(env: &Environment, service: &ServiceSlos) -> Value {
    json!([
        format!("kubestore-{}-{}-sli", env.name, service.name()),
        format!("kubestore-{}-{}-slo-alerts", env.name, service.name()),
    ])
}

/// A scratch folder; `KUBESTORE_PROMTOOL_DIR` keeps the generated files for a look.
fn scratch(name: &str) -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("KUBESTORE_PROMTOOL_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir).join(name);
            std::fs::create_dir_all(&dir).expect("mkdir");
            (None, dir)
        }
        None => {
            let tmp = tempfile::tempdir().expect("temp dir");
            let path = tmp.path().to_owned();
            (Some(tmp), path)
        }
    }
}

#[test]
fn burn_rate_alerts_fire_above_their_thresholds_and_stay_silent_below() {
    let (_keep, dir) = scratch("burn");
    let mut files: Vec<PathBuf> = Vec::new();
    let mut count = 0;
    for env in environments() {
        for service in &env.slos.services {
            let rules = format!("{}-{}-rules.yaml", env.name, service.name());
            write_yaml(&dir.as_path().join(&rules), &service_rules(&env, service));
            for tier in [Tier::Page, Tier::Ticket] {
                let interval = interval_for(service, tier);
                let mut tests = Vec::new();
                // Every case ends at a multiple of the tier's first long window, and the
                // burn alerts have no `for`: evaluating once per long window is enough, as
                // the recordings are evaluated before the alerts at each step.
                let first_long = service
                    .burn_windows()
                    .iter()
                    .find(|b| b.tier == tier)
                    .map(|b| b.long.millis() / 1000)
                    .unwrap();
                for slo in &service.slos {
                    let alert = alert_name(
                        service.name(),
                        slo.kind,
                        if tier == Tier::Page {
                            "FastBurn"
                        } else {
                            "SlowBurn"
                        },
                    );
                    if !slo.alerts.on(tier) {
                        // A tier switched off has no rule at all: nothing may fire.
                        let burn = vec![Phase {
                            steps: 2 * first_long / interval,
                            rate: 10.0,
                            bad: 1.0,
                        }];
                        tests.push(json!({
                            "name": format!("{} {} {}: tier off", env.name, service.name(), slo.kind.as_str()),
                            "interval": secs(interval),
                            "input_series": series(&env, service, slo, &burn, interval as f64),
                            "alert_rule_test": [{"eval_time": secs(2 * first_long), "alertname": alert, "exp_alerts": []}],
                        }));
                        continue;
                    }
                    for case in tier_cases(service, slo, tier, interval) {
                        let total: u64 = case.phases.iter().map(|p| p.steps).sum();
                        let expected = if case.fires {
                            json!([{"exp_labels": alert_labels(&env, service, slo, case.severity)}])
                        } else {
                            json!([])
                        };
                        tests.push(json!({
                            "name": format!("{} {} {}: {}", env.name, service.name(), slo.kind.as_str(), case.name),
                            "interval": secs(interval),
                            "input_series": series(&env, service, slo, &case.phases, interval as f64),
                            "alert_rule_test": [{
                                "eval_time": secs(total * interval),
                                "alertname": case.alert,
                                "exp_alerts": expected,
                            }],
                        }));
                    }
                }
                count += tests.len();
                let file = dir.as_path().join(format!(
                    "{}-{}-{}-test.yaml",
                    env.name,
                    service.name(),
                    tier.severity()
                ));
                let every = first_long;
                write_yaml(
                    &file,
                    &json!({
                        "rule_files": [rules],
                        "evaluation_interval": secs(every),
                        "group_eval_order": group_order(&env, service),
                        "tests": tests,
                    }),
                );
                files.push(file);
            }
        }
    }
    let mut args = vec!["test", "rules"];
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    args.extend(names.iter().map(String::as_str));
    promtool(&args, dir.as_path());
    assert!(count > 100, "only {count} cases");
}

#[test]
fn the_absent_alert_fires_when_the_sli_series_are_gone() {
    let (_keep, dir) = scratch("absent");
    let mut files = Vec::new();
    for env in environments() {
        for service in &env.slos.services {
            let rules = format!("{}-{}-rules.yaml", env.name, service.name());
            write_yaml(&dir.as_path().join(&rules), &service_rules(&env, service));
            let mut tests = Vec::new();
            for slo in &service.slos {
                let alert = alert_name(service.name(), slo.kind, "SLIAbsent");
                let total = sli_metrics(&env, service, slo).total;
                let mut labels: BTreeMap<String, String> = total
                    .split_once('{')
                    .unwrap()
                    .1
                    .trim_end_matches('}')
                    .split(',')
                    .map(|m| {
                        let (k, v) = m.split_once('=').unwrap();
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                labels.extend(slo_labels(&env, service, slo));
                labels.insert("severity".into(), "ticket".into());
                let present = vec![Phase {
                    steps: 30,
                    rate: 10.0,
                    bad: 0.0,
                }];
                tests.push(json!({
                    "name": format!("{} {} {}: no series", env.name, service.name(), slo.kind.as_str()),
                    "interval": "1m",
                    "input_series": [{"series": "up{job=\"unrelated\"}", "values": "1x30"}],
                    "alert_rule_test": [
                        {"eval_time": "5m", "alertname": alert, "exp_alerts": []},
                        {"eval_time": "15m", "alertname": alert, "exp_alerts": [{"exp_labels": labels}]},
                    ],
                }));
                tests.push(json!({
                    "name": format!("{} {} {}: series present", env.name, service.name(), slo.kind.as_str()),
                    "interval": "1m",
                    "input_series": series(&env, service, slo, &present, 60.0),
                    "alert_rule_test": [{"eval_time": "20m", "alertname": alert, "exp_alerts": []}],
                }));
            }
            let file = format!("{}-{}-absent-test.yaml", env.name, service.name());
            write_yaml(
                &dir.as_path().join(&file),
                &json!({
                    "rule_files": [rules],
                    "evaluation_interval": "1m",
                    "group_eval_order": group_order(&env, service),
                    "tests": tests,
                }),
            );
            files.push(file);
        }
    }
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    promtool(&args, dir.as_path());
}

#[test]
fn budget_remaining_follows_the_error_ratio_over_the_window() {
    let (_keep, dir) = scratch("budget");
    let mut files = Vec::new();
    for env in environments() {
        let groups = slo_rules::groups(&env);
        let order: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        let rules = format!("{}-rules.yaml", env.name);
        write_yaml(&dir.join(&rules), &json!({ "groups": groups }));
        let mut tests = Vec::new();
        for service in &env.slos.services {
            for slo in &service.slos {
                // A quarter of the budget's error ratio, steadily: three quarters left.
                let bad = slo.budget_ratio().parse::<f64>().unwrap() / 4.0;
                let phases = [Phase {
                    steps: 120,
                    rate: 8.0,
                    bad,
                }];
                let labels = slo_labels(&env, service, slo);
                let selector = sli::selector(sli::BUDGET_REMAINING_SERIES, &labels);
                tests.push(json!({
                    "name": format!("{} {} {}: budget remaining", env.name, service.name(), slo.kind.as_str()),
                    "interval": "1m",
                    "input_series": series(&env, service, slo, &phases, 60.0),
                    "promql_expr_test": [{
                        "expr": format!("round({selector}, 0.001)"),
                        "eval_time": "2h",
                        "exp_samples": [{"labels": format!("{{{}}}", labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join(",")), "value": 0.75}],
                    }],
                }));
            }
        }
        let file = format!("{}-budget-test.yaml", env.name);
        write_yaml(
            &dir.join(&file),
            &json!({
                "rule_files": [rules],
                "evaluation_interval": "5m",
                "group_eval_order": order,
                "tests": tests,
            }),
        );
        files.push(file);
    }
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    promtool(&args, &dir);
}
