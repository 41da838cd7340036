//! Validation of the `slos` section: every error names the file, line and key, all errors
//! are reported at once, and the dependency warning fires where a caller promises more
//! than its dependencies can give.

use std::path::Path;

use kubestore_core::model::Environment;
use kubestore_core::spec::{ConfigError, load_str};

fn validate(source: &str) -> Result<Environment, Vec<ConfigError>> {
    // Every environment names its secrets provider and image tag; appended so line numbers
    // stay put.
    let source = format!("{source}{SECRETS}");
    let loaded = load_str(Path::new("environments/t.yaml"), &source).map_err(|e| e.0)?;
    Environment::from_loaded(&loaded).map_err(|e| e.0)
}

fn errors(source: &str) -> Vec<String> {
    match validate(source) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

const HEAD: &str = "name: t\nnamespace: t\n";
const SECRETS: &str = "secrets: {provider: external-secrets, store: vault, keys: \
                       {mysql-root-password: t/mysql#root-password, redis-password: t/redis#password}}\n\
                       images: {tag: \"1.4.2\"}\n";

#[test]
fn every_bad_slo_value_is_reported_with_line_and_key() {
    let source = format!(
        "{HEAD}slos:
  window: 90d
  source: istio
  defaults:
    availability: 100%
    latency: {{threshold: 300ms, target: 0%}}
    min_request_rate: 5/m
  services:
    order: {{availability: 99%}}
  post_sync_check: {{window: 10s}}
"
    );
    let got = errors(&source);
    let want = [
        "environments/t.yaml:4:3: slos.window: `90d` is not a supported window: expected one of 30d, 28d, 7d",
        "environments/t.yaml:5:3: slos.source: `istio` is not an SLI source: expected `mesh` or `app`",
        "environments/t.yaml:7:5: slos.defaults.availability: 100% must be strictly between 0% and 100%",
        "environments/t.yaml:8:33: slos.defaults.latency.target: 0% must be strictly between 0% and 100%",
        "environments/t.yaml:9:5: slos.defaults.min_request_rate: `5/m` is not a request rate",
        "environments/t.yaml:11:5: slos.services.order: unknown service `order`, did you mean `orders`?",
        "environments/t.yaml:12:21: slos.post_sync_check.window: 10s is too short to measure",
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(want) {
        assert!(g.starts_with(w), "{g}\n  does not start with\n{w}");
    }
}

#[test]
fn latency_thresholds_must_be_bucket_bounds_of_the_chosen_source() {
    // 30s is one of Istio's buckets but not one of the services' own.
    let source = format!(
        "{HEAD}slos:
  source: app
  services:
    orders:
      latency: {{threshold: 30s}}
    users:
      source: mesh
      latency: {{threshold: 30s}}
"
    );
    let got = errors(&source);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].starts_with(
            "environments/t.yaml:7:17: slos.services.orders.latency.threshold: 30s is not a \
             bucket bound of http_request_duration_seconds"
        ),
        "{}",
        got[0]
    );
    assert!(
        got[0].ends_with(
            "use one of 5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s, 2500ms, 5s, 10s"
        )
    );
}

#[test]
fn a_caller_promising_more_than_its_dependencies_gets_a_warning() {
    let source = format!(
        "{HEAD}slos:
  defaults: {{availability: 99.9%}}
  services:
    users: {{availability: 99.95%}}
    products: {{availability: 99.95%}}
    orders: {{availability: 99.95%}}
    cart: {{availability: 99%}}
    frontend: {{availability: 99%, degrades_gracefully: true}}
"
    );
    let env = validate(&source).expect("warnings do not fail validation");
    let warnings: Vec<String> = env.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "environments/t.yaml:8:14: slos.services.orders.availability: orders promises 99.95% \
             availability but calls users (99.95%) x products (99.95%) synchronously, which \
             together give at most 99.900025%: lower the objective to 99.900025% or less, or set \
             degrades_gracefully: true if orders answers without them"
        ]
    );
}

#[test]
fn an_objective_too_loose_for_a_burn_alert_is_a_warning() {
    let source = format!("{HEAD}slos:\n  defaults: {{availability: 90%}}\n");
    let env = validate(&source).expect("valid");
    let first = env.warnings()[0].to_string();
    assert!(
        first.contains("slos.defaults.availability: the page alert over 1h of frontend availability can never fire: 14.4x the 10% error budget is an error ratio of 1.44, above 1"),
        "{first}"
    );
}

#[test]
fn the_committed_environments_validate_without_warnings() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments");
    for name in ["dev", "staging", "prod"] {
        let path = dir.join(format!("{name}.yaml"));
        let loaded = kubestore_core::spec::load(&path).unwrap().unwrap();
        let env = Environment::from_loaded(&loaded).unwrap();
        assert!(env.warnings().is_empty(), "{name}: {:#?}", env.warnings());
    }
}

#[test]
fn render_and_validate_print_warnings_to_stderr_and_still_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let envs = dir.path().join("environments");
    std::fs::create_dir_all(&envs).unwrap();
    std::fs::write(
        envs.join("t.yaml"),
        "name: t\nnamespace: t\nslos:\n  services:\n    orders: {availability: 99.99%}\nsecrets:\n  \
         provider: external-secrets\n  store: vault\n  keys: {mysql-root-password: t/m#p, \
         redis-password: t/r#p}\nimages: {tag: \"1.4.2\"}\n",
    )
    .unwrap();
    for args in [
        vec!["validate", "t"],
        vec!["render", "t", "--out", "gitops"],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_kubestore-gen"))
            .arg("--environments")
            .arg(&envs)
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.lines().any(|l| l.starts_with("warning: ")
                && l.contains(
                    "t.yaml:5:14: slos.services.orders.availability: orders promises 99.99%"
                )),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn alert_tiers_switch_per_slo() {
    let source = format!(
        "{HEAD}slos:
  defaults:
    alerts: {{page: false}}
  services:
    orders:
      alerts: {{absent: false}}
      latency: {{alerts: {{page: true, ticket: false}}}}
"
    );
    let env = validate(&source).expect("valid");
    let orders = env.slos.service("orders").unwrap();
    let [availability, latency] = [&orders.slos[0], &orders.slos[1]];
    assert_eq!(
        (
            availability.alerts.page,
            availability.alerts.ticket,
            availability.alerts.absent
        ),
        (false, true, false)
    );
    assert_eq!(
        (
            latency.alerts.page,
            latency.alerts.ticket,
            latency.alerts.absent
        ),
        (true, false, false)
    );
    let users = env.slos.service("users").unwrap();
    assert!(
        users
            .slos
            .iter()
            .all(|s| !s.alerts.page && s.alerts.ticket && s.alerts.absent)
    );
    let alerts: Vec<String> = kubestore_gen::render::slo_rules::groups(&env)
        .into_iter()
        .flat_map(|g| g.rules)
        .filter_map(|r| r.alert)
        .filter(|a| a.starts_with("Orders"))
        .collect();
    assert_eq!(
        alerts,
        ["OrdersAvailabilitySlowBurn", "OrdersLatencyFastBurn"]
    );
}

#[test]
fn the_low_traffic_floor_can_differ_per_slo() {
    let source = format!(
        "{HEAD}slos:
  defaults: {{min_request_rate: 2/s}}
  services:
    orders:
      latency: {{min_request_rate: 0/s}}
"
    );
    let env = validate(&source).expect("valid");
    let orders = env.slos.service("orders").unwrap();
    assert_eq!(orders.slos[0].min_request_rate.to_string(), "2/s");
    assert_eq!(orders.slos[1].min_request_rate.to_string(), "0/s");
    let exprs: Vec<String> = kubestore_gen::render::slo_rules::groups(&env)
        .into_iter()
        .flat_map(|g| g.rules)
        .filter(|r| {
            r.alert.as_deref().is_some_and(|a| {
                a.starts_with("OrdersAvailabilityFast") || a.starts_with("OrdersLatencyFast")
            })
        })
        .map(|r| r.expr)
        .collect();
    assert!(exprs[0].ends_with(">= 2"), "{}", exprs[0]);
    assert!(!exprs[1].contains("slo:sli_requests"), "{}", exprs[1]);
}
