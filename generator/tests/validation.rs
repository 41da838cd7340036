//! Every validation rule of an environment file: each bad fixture's full error text is
//! snapshotted, and each rule has an assertion that its message names the key and line.

use std::path::Path;

use kubestore_core::model::Environment;
use kubestore_core::spec;

/// All errors of a fixture file, one per line, as the CLI prints them.
fn errors_of(path: &Path) -> String {
    let relative = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path);
    let bytes = std::fs::read(path).expect("fixture readable");
    match spec::load_bytes(relative, &bytes) {
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

/// Hostile files: each case with the line, key and words of its message (the glob
/// snapshots above hold the full text).
#[test]
fn hostile_files_get_the_users_words_and_lines() {
    let cases: &[(&str, u32, &str, &str)] = &[
        // A bad value does not hide the ones after it, nor the model's checks.
        (
            "bad-value-goes-on",
            5,
            "defaults.replicas.min",
            "expected a whole number, found `two`",
        ),
        (
            "bad-value-goes-on",
            6,
            "defaults.cpu_target",
            "expected a single value, found a list",
        ),
        (
            "bad-value-goes-on",
            9,
            "services.orders.replicas.max",
            "must be ≥ replicas.min (4)",
        ),
        (
            "bad-value-goes-on",
            11,
            "slos.window",
            "`3d` is not a supported window",
        ),
        (
            "wrong-shapes",
            4,
            "services",
            "expected a mapping of keys to values, found a list",
        ),
        (
            "wrong-shapes",
            8,
            "chaos.allowed",
            "expected `true` or `false`, found `maybe`",
        ),
        ("wrong-shapes", 13, "slos.defaults.alerts.page", "found `1`"),
        (
            "duplicate-keys",
            6,
            "defaults.drain",
            "duplicate key `drain`",
        ),
        (
            "duplicate-keys",
            9,
            "services.orders.drain",
            "`never` is not a duration",
        ),
        // Syntax: the place to fix, in words that describe it.
        (
            "unclosed-quote",
            4,
            "images.tag",
            "the quoted value that starts here has no closing quote",
        ),
        (
            "unclosed-bracket",
            6,
            "chaos.experiments",
            "the `[` that starts here is not closed with `]`",
        ),
        (
            "missing-comma",
            5,
            "defaults.replicas",
            "expected `,` or `}` here",
        ),
        (
            "odd-keys",
            11,
            "data.mysql.storage",
            "`20Gi\\n` is not a quantity",
        ),
        (
            "malformed",
            4,
            "defaults.replicas",
            "the `{` that starts here is not closed with `}`",
        ),
        (
            "tab-indent",
            6,
            "defaults.log_level",
            "a tab here: YAML indents with spaces only",
        ),
        (
            "not-utf8",
            5,
            "defaults.log_level",
            "byte 0xFF is not UTF-8 text",
        ),
        (
            "two-documents",
            6,
            "name",
            "a second YAML document starts here",
        ),
        // `.nan` and `.inf` are named as written and later lines keep their line.
        (
            "nan-keeps-lines",
            7,
            "chaos.experiments[0].abort.percent",
            "expected a number, found `.nan`",
        ),
        (
            "nan-keeps-lines",
            8,
            "chaos.experiments[1].delay.percent",
            "found `.inf`",
        ),
        (
            "nan-keeps-lines",
            10,
            "defaults.drain",
            "`forever` is not a duration",
        ),
        // No Rust words for a null or a missing value.
        ("null-values", 4, "images.tag", "has no value"),
        (
            "null-values",
            10,
            "chaos.experiments[0].name",
            "has no value",
        ),
        (
            "null-values",
            11,
            "chaos.experiments[1].name",
            "is required but missing",
        ),
        (
            "unknown-digest",
            6,
            "images.digests.mysq",
            "did you mean `mysql`?",
        ),
        (
            "unknown-digest",
            7,
            "images.digests.slo-chek",
            "did you mean `slo-check`?",
        ),
        (
            "unknown-digest",
            8,
            "images.digests.redi",
            "did you mean `redis`?",
        ),
        // Values the cluster or Istio would refuse, or that cannot mean what was meant.
        (
            "milli-bytes",
            6,
            "services.orders.resources.memory",
            "`384m` is a fraction of a byte: sizes are whole bytes; did you mean `384Mi`?",
        ),
        ("milli-bytes", 10, "data.mysql.storage", "must be above 0"),
        (
            "zero-durations",
            6,
            "defaults.resilience.timeout",
            "must be above 0: Istio refuses durations under 1ms",
        ),
        (
            "zero-durations",
            8,
            "defaults.resilience.circuit_breaker.interval",
            "must be above 0",
        ),
        (
            "zero-durations",
            12,
            "chaos.experiments[0].delay.fixed",
            "must be above 0",
        ),
        (
            "retry-on",
            6,
            "defaults.resilience.retries.retry_on",
            "did you mean `connect-failure`?",
        ),
        (
            "retry-on",
            10,
            "services.users.resilience.retries.retry_on",
            "has a space",
        ),
        (
            "image-names",
            4,
            "images.registry",
            "starts with `https://`: an image name has no scheme",
        ),
        (
            "image-names",
            5,
            "images.tag",
            "`-1.4.2` is not a valid image tag",
        ),
        (
            "long-tag",
            5,
            "images.tag",
            "is 136 characters long: an image tag has at most 128",
        ),
        (
            "whole-percents",
            5,
            "defaults.cpu_target",
            "`50%%` is not a percentage",
        ),
        (
            "whole-percents",
            10,
            "services.orders.cpu_target",
            "62.5% is not a whole percentage",
        ),
        (
            "bad-ingress",
            5,
            "ingress.host",
            "`shop example.com` is not a host name",
        ),
        (
            "bad-ingress",
            6,
            "ingress.tls_credential",
            "`Shop_TLS` cannot be a Secret name",
        ),
        (
            "bad-delivery",
            3,
            "cluster",
            "an empty value is not an API server URL",
        ),
        (
            "bad-delivery",
            5,
            "git.repo",
            "an empty value is not a repository URL",
        ),
        (
            "bad-delivery",
            7,
            "git.path",
            "`../elsewhere` is not a folder inside the repository",
        ),
        // Silent rules made loud.
        (
            "retry-budget-first-try",
            8,
            "services.users.resilience.retries.per_try_timeout",
            "the first try and 2 retries of 500ms each (1500ms) do not fit in the route timeout of 1s",
        ),
    ];
    for (name, line, key, words) in cases {
        assert_error(&fixture(name), *line, key, words);
    }
    // An absent tag has no line to point at, but names the key.
    assert_eq!(
        fixture("missing-tag"),
        "tests/fixtures/invalid/missing-tag.yaml: images.tag: is required: the version every \
         service runs, e.g. `tag: \"1.4.2\"`"
    );
}

#[test]
fn files_over_the_limit_are_refused_before_parsing() {
    let mut big = b"name: big\nnamespace: big\n".to_vec();
    while big.len() <= spec::MAX_FILE_BYTES {
        big.extend_from_slice(b"# a comment line, over and over, to make the file large\n");
    }
    let errors = spec::load_bytes(Path::new("big.yaml"), &big)
        .unwrap_err()
        .to_string();
    assert_eq!(
        errors,
        "big.yaml: the file is larger than 1024 KiB, the limit for an environment file"
    );
    // Comments below the limit are fine, however many.
    let mut comments = b"name: comments\nnamespace: comments\nimages: {tag: \"1.4.2\"}\n".to_vec();
    while comments.len() < spec::MAX_FILE_BYTES - 1000 {
        comments.extend_from_slice(b"# x\n");
    }
    comments.extend_from_slice(SECRETS.as_bytes());
    let loaded = spec::load_bytes(Path::new("comments.yaml"), &comments).unwrap();
    Environment::from_loaded(&loaded).unwrap_or_else(|e| panic!("{e}"));
}

const SECRETS: &str = "secrets: {provider: external-secrets, store: vault, keys: \
                       {mysql-root-password: s/mysql#root-password, redis-password: s/redis#password}}\n";

#[test]
fn prod_refuses_chaos_and_staging_keeps_its_experiments() {
    let source = format!(
        "name: prod\nnamespace: kubestore-prod\nimages: {{tag: \"1.4.2\"}}\n{SECRETS}chaos:\n  \
         allowed: true\n  experiments:\n    - {{name: flaky, service: users, abort: {{status: 503, percent: 5}}}}\n"
    );
    let loaded = spec::load_str(Path::new("environments/prod.yaml"), &source).unwrap();
    let errors = Environment::from_loaded(&loaded).unwrap_err().to_string();
    insta::assert_snapshot!(errors, @r"
    environments/prod.yaml:6:3: chaos.allowed: prod never allows fault injection: run experiments in staging, or set chaos.allowed: false
    environments/prod.yaml:8:7: chaos.experiments[0]: prod never runs fault injection: move `flaky` to staging
    ");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments");
    let staging = kubestore_gen::load_environment(&dir, "staging").unwrap();
    assert_eq!(staging.experiments.len(), 2);
}

#[test]
fn environments_that_would_deploy_over_each_other_are_refused_in_both_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conflicts");
    let environments = kubestore_gen::Environments::read(&dir).unwrap();
    let checked = environments.check(&environments.names()).unwrap();
    let report: Vec<String> = checked
        .iter()
        .map(|(name, result)| match result {
            Ok(_) => format!("{name}: valid"),
            Err(errors) => errors
                .to_string()
                .replace(dir.to_str().unwrap(), "conflicts"),
        })
        .collect();
    insta::assert_snapshot!(report.join("\n"));
}
