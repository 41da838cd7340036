//! Credentials: every environment picks a provider, each provider gets exactly the keys
//! it needs, and nothing that looks like a plaintext password gets through. Rendered, the
//! credentials become SealedSecrets or ExternalSecrets named as the workloads expect.

use std::path::Path;

use kubestore_core::model::Environment;
use kubestore_core::spec;

/// All errors of an invalid fixture, one per line, as the CLI prints them.
fn fixture(name: &str) -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/invalid/{name}.yaml"));
    let relative = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .expect("inside the crate");
    let source = std::fs::read_to_string(&path).expect("fixture readable");
    let loaded = spec::load_str(relative, &source).unwrap_or_else(|e| panic!("{e}"));
    match Environment::from_loaded(&loaded) {
        Err(errors) => errors.to_string(),
        Ok(_) => panic!("{name} should be invalid"),
    }
}

/// Asserts one line of `errors` names `key` at `line` (if any) and contains `words`.
#[track_caller]
fn assert_error(errors: &str, line: Option<u32>, key: &str, words: &str) {
    let found = errors.lines().any(|l| {
        let at = match line {
            Some(line) => l.contains(&format!(".yaml:{line}:")),
            None => l.contains(&format!(".yaml: {key}: ")),
        };
        at && l.contains(&format!(": {key}: ")) && l.contains(words)
    });
    assert!(
        found,
        "no error at line {line:?} for `{key}` saying `{words}` in:\n{errors}"
    );
}

#[test]
fn every_environment_must_choose_a_provider() {
    assert_error(
        &fixture("secrets-missing"),
        None,
        "secrets",
        "every environment must say where its credentials come from",
    );
}

#[test]
fn an_unknown_provider_gets_a_did_you_mean() {
    assert_error(
        &fixture("secrets-unknown-provider"),
        Some(4),
        "secrets.provider",
        "unknown provider `sealed-secret`, did you mean `sealed-secrets`?",
    );
}

#[test]
fn a_sealed_value_must_look_like_kubeseal_output() {
    let errors = fixture("secrets-plaintext");
    assert_error(
        &errors,
        Some(6),
        "secrets.encrypted.mysql-root-password",
        "does not look like kubeseal output",
    );
    assert!(!errors.contains("hunter2"), "never echo a secret: {errors}");
}

#[test]
fn misspelt_and_missing_credentials_are_named() {
    let errors = fixture("secrets-plaintext");
    assert_error(
        &errors,
        Some(7),
        "secrets.encrypted.redis-pasword",
        "did you mean `redis-password`?",
    );
    assert_error(
        &errors,
        Some(5),
        "secrets.encrypted",
        "missing `redis-password`",
    );
}

#[test]
fn an_external_key_must_be_a_remote_reference() {
    let errors = fixture("secrets-not-references");
    assert_error(
        &errors,
        Some(7),
        "secrets.keys.mysql-root-password",
        "is not a remote reference",
    );
    assert!(
        !errors.contains("s3cr3t-passw0rd"),
        "never echo a secret: {errors}"
    );
    assert_error(
        &errors,
        Some(5),
        "secrets.store_kind",
        "did you mean `ClusterSecretStore`?",
    );
    assert_error(&errors, Some(3), "secrets.store", "missing");
    assert_error(
        &errors,
        Some(9),
        "secrets.encrypted",
        "only used with `provider: sealed-secrets`",
    );
}

fn repository_environment(name: &str) -> Environment {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments");
    kubestore_gen::load_environment(&dir, name).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn prod_reads_credentials_from_its_secret_manager() {
    let prod = repository_environment("prod");
    let secrets = kubestore_gen::render::render_secrets(&prod);
    let kinds: Vec<_> = secrets.iter().map(|o| o.value["kind"].clone()).collect();
    assert_eq!(kinds, ["ExternalSecret", "ExternalSecret"]);
    let mysql = &secrets[0].value;
    assert_eq!(mysql["spec"]["target"]["name"], "mysql-credentials");
    assert_eq!(
        mysql["spec"]["secretStoreRef"]["kind"],
        "ClusterSecretStore"
    );
    assert_eq!(mysql["spec"]["data"][0]["secretKey"], "root-password");
    assert_eq!(
        mysql["spec"]["data"][0]["remoteRef"]["key"],
        "kubestore/prod/mysql"
    );
    assert_eq!(
        mysql["spec"]["data"][0]["remoteRef"]["property"],
        "root-password"
    );
    assert_eq!(
        secrets[1].value["spec"]["target"]["name"],
        "redis-credentials"
    );
    assert_eq!(secrets[1].value["spec"]["data"][0]["secretKey"], "password");
}

#[test]
fn dev_and_staging_commit_only_sealed_values() {
    for name in ["dev", "staging"] {
        let env = repository_environment(name);
        let secrets = kubestore_gen::render::render_secrets(&env);
        for secret in &secrets {
            assert_eq!(secret.value["kind"], "SealedSecret");
            let template = &secret.value["spec"]["template"]["metadata"]["name"];
            assert_eq!(template, &secret.value["metadata"]["name"]);
        }
        assert_eq!(secrets[0].value["metadata"]["name"], "mysql-credentials");
        assert!(secrets[0].value["spec"]["encryptedData"]["root-password"].is_string());
        assert!(secrets[1].value["spec"]["encryptedData"]["password"].is_string());
    }
}
