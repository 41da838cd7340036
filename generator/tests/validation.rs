//! Every validation rule of an environment file: each bad fixture's full error text is
//! snapshotted, and each rule has an assertion that its message names the key and line.

use std::path::Path;

use kubestore_gen::model::Environment;
use kubestore_gen::spec;

/// All errors of a fixture file, one per line, as the CLI prints them.
fn errors_of(path: &Path) -> String {
    let relative = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path);
    let source = std::fs::read_to_string(path).expect("fixture readable");
    match spec::load_str(relative, &source) {
        Err(errors) => errors.to_string(),
        Ok(loaded) => match Environment::from_loaded(&loaded) {
            Err(errors) => errors.to_string(),
            Ok(_) => panic!("{} should be invalid", path.display()),
        },
    }
}

fn fixture(name: &str) -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/invalid/{name}.yaml"));
    errors_of(&path)
}

#[test]
fn invalid_fixtures_report_every_error() {
    insta::glob!("fixtures/invalid/*.yaml", |path| {
        insta::assert_snapshot!(errors_of(path));
    });
}

#[test]
fn valid_fixtures_validate() {
    insta::glob!("fixtures/valid/*.yaml", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let loaded = spec::load_str(path, &source).unwrap_or_else(|e| panic!("{e}"));
        let env = Environment::from_loaded(&loaded).unwrap_or_else(|e| panic!("{e}"));
        insta::assert_yaml_snapshot!(env);
    });
}

/// Asserts one line of `errors` names `key` at `line` and contains `words`.
#[track_caller]
fn assert_error(errors: &str, line: u32, key: &str, words: &str) {
    let found = errors.lines().any(|l| {
        l.contains(&format!(".yaml:{line}:"))
            && l.contains(&format!(": {key}: "))
            && l.contains(words)
    });
    assert!(
        found,
        "no error at line {line} for `{key}` saying `{words}` in:\n{errors}"
    );
}

#[test]
fn unknown_keys_are_all_reported_with_did_you_mean() {
    let errors = fixture("unknown-keys");
    assert_error(&errors, 4, "defaults.replicas.maxx", "did you mean `max`?");
    assert_error(&errors, 5, "defaults.resorces", "did you mean `resources`?");
    assert_error(&errors, 8, "services.orders.drian", "did you mean `drain`?");
    assert_eq!(errors.lines().count(), 3);
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let errors = fixture("malformed");
    assert!(
        errors.starts_with("tests/fixtures/invalid/malformed.yaml:"),
        "{errors}"
    );
    assert_eq!(errors.lines().count(), 1, "{errors}");
}

#[test]
fn bad_quantities_are_refused() {
    let errors = fixture("bad-quantities");
    assert_error(
        &errors,
        4,
        "defaults.resources.cpu",
        "`12 cores` is not a quantity",
    );
    assert_error(
        &errors,
        7,
        "services.users.resources.memory",
        "`-1` is not a quantity",
    );
    assert_error(
        &errors,
        9,
        "services.cart.resources.ephemeral_storage",
        "`5x` is not a quantity",
    );
}

#[test]
fn bad_durations_are_refused() {
    let errors = fixture("bad-durations");
    assert_error(
        &errors,
        4,
        "defaults.drain",
        "`5 seconds` is not a duration",
    );
    assert_error(
        &errors,
        7,
        "services.orders.resilience.timeout",
        "`1.5s` is not a duration",
    );
}

#[test]
fn min_replicas_above_max_is_refused() {
    assert_error(
        &fixture("min-above-max"),
        7,
        "services.orders.replicas.max",
        "must be ≥ replicas.min (5)",
    );
}

#[test]
fn more_than_a_thousand_replicas_is_refused() {
    assert_error(
        &fixture("max-above-limit"),
        4,
        "defaults.replicas.max",
        "must be at most 1000",
    );
}

#[test]
fn autoscaling_on_cpu_needs_a_cpu_request() {
    assert_error(
        &fixture("hpa-without-cpu"),
        6,
        "services.products.resources.cpu",
        "needs a CPU request",
    );
}

#[test]
fn a_disruption_budget_that_blocks_drains_is_refused() {
    let errors = fixture("pdb-blocks-drain");
    assert_error(
        &errors,
        6,
        "services.frontend.disruption.min_available",
        "would block every node drain",
    );
    assert_error(
        &errors,
        8,
        "services.users.disruption.max_unavailable",
        "would block every node drain",
    );
}

#[test]
fn mutable_image_tags_are_refused() {
    assert_error(
        &fixture("mutable-tag"),
        4,
        "images.tag",
        "`latest` is mutable",
    );
    assert_error(
        &fixture("empty-tag"),
        4,
        "images.tag",
        "an empty tag is not a version",
    );
}

#[test]
fn mutable_tags_pass_when_explicitly_allowed() {
    let source = "name: scratch\nnamespace: shop\nimages: {tag: latest, allow_mutable_tag: true}\n\
                  secrets: {provider: external-secrets, store: vault, keys: {mysql-root-password: shop/mysql#root-password, redis-password: shop/redis#password}}\n";
    let loaded = spec::load_str(Path::new("scratch.yaml"), source).unwrap();
    Environment::from_loaded(&loaded).expect("allowed");
}

#[test]
fn unknown_services_are_refused_with_did_you_mean() {
    let errors = fixture("unknown-service");
    assert_error(
        &errors,
        4,
        "services.order",
        "unknown service `order`, did you mean `orders`?",
    );
    assert_error(
        &errors,
        9,
        "images.digests.payments",
        "unknown image `payments`",
    );
}

#[test]
fn duplicate_services_are_refused() {
    let errors = fixture("duplicate-service");
    assert!(errors.contains("duplicate-service.yaml:6:"), "{errors}");
    assert!(errors.to_lowercase().contains("duplicate"), "{errors}");
}

#[test]
fn namespaces_must_be_dns_labels() {
    assert_error(
        &fixture("bad-namespace"),
        2,
        "namespace",
        "`Shop_Prod` is not a valid namespace",
    );
}

#[test]
fn retries_must_fit_in_the_route_timeout() {
    assert_error(
        &fixture("retries-exceed-timeout"),
        7,
        "services.orders.resilience.retries.per_try_timeout",
        "do not fit in the route timeout of 1s",
    );
}

#[test]
fn fault_injection_needs_chaos_allowed() {
    assert_error(
        &fixture("chaos-not-allowed"),
        5,
        "chaos.experiments[0]",
        "fault injection is not allowed",
    );
}

#[test]
fn wrong_types_name_the_key() {
    assert_error(
        &fixture("wrong-type"),
        4,
        "defaults.replicas.min",
        "expected a whole number, found `two`",
    );
}

#[test]
fn the_file_name_must_match_the_environment_name() {
    assert_error(
        &fixture("name-mismatch"),
        1,
        "name",
        "does not match the file name",
    );
}

#[test]
fn all_errors_of_a_file_are_reported_at_once() {
    let errors = fixture("many-errors");
    assert_error(&errors, 4, "images.tag", "mutable");
    assert_error(
        &errors,
        6,
        "defaults.resources.cpu",
        "`lots` is not a quantity",
    );
    assert_error(
        &errors,
        9,
        "services.orders.replicas.max",
        "must be ≥ replicas.min (4)",
    );
    assert_error(
        &errors,
        11,
        "services.cart.drain",
        "`forever` is not a duration",
    );
    assert_error(
        &errors,
        12,
        "services.checkout",
        "unknown service `checkout`",
    );
    // Errors come in file order.
    let lines: Vec<u32> = errors
        .lines()
        .filter_map(|l| l.split(':').nth(1)?.parse().ok())
        .collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "{errors}");
}

#[test]
fn empty_files_and_wrong_shapes_say_what_is_expected() {
    let empty = spec::load_str(Path::new("empty.yaml"), "")
        .unwrap_err()
        .to_string();
    assert!(
        empty.contains("the file ends before `name` and `namespace` are set"),
        "{empty}"
    );
    let list = spec::load_str(Path::new("list.yaml"), "- a\n- b\n")
        .unwrap_err()
        .to_string();
    assert!(
        list.starts_with("list.yaml:1:1: expected a mapping"),
        "{list}"
    );
    let services = "name: x\nnamespace: y\nservices: 5\nimages: {tag: \"1.4.2\"}\n";
    let loaded = spec::load_str(Path::new("x.yaml"), services).expect("readable");
    let services = Environment::from_loaded(&loaded).unwrap_err().to_string();
    assert!(
        services
            .starts_with("x.yaml:3:11: services: expected a mapping of keys to values, found `5`"),
        "{services}"
    );
}
