//! Where the store's credentials come from. A credential never appears in plaintext: an
//! environment either commits `kubeseal` output (`sealed-secrets`) or names where an
//! external secret manager keeps it (`external-secrets`). The checks here refuse a value
//! that looks like a password instead, and name the credential a misspelt key meant.

use serde::Serialize;

use super::check::{Check, Checked};
use super::dns;
use crate::conventions as conv;
use crate::spec::{SecretsSpec, unknown};

/// One credential the store needs, and the Secret the workloads read it from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Credential {
    /// Its key under `secrets.encrypted` or `secrets.keys`.
    pub name: &'static str,
    /// What it is, for messages.
    #[serde(skip)]
    pub description: &'static str,
    /// The Kubernetes Secret holding it.
    pub secret: &'static str,
    /// The key inside that Secret.
    pub secret_key: &'static str,
}

/// Every credential, in the order the Secrets are rendered.
pub const CREDENTIALS: [Credential; 2] = [
    Credential {
        name: "mysql-root-password",
        description: "the MySQL root password",
        secret: conv::MYSQL_SECRET,
        secret_key: conv::MYSQL_SECRET_KEY,
    },
    Credential {
        name: "redis-password",
        description: "the Redis password",
        secret: conv::REDIS_SECRET,
        secret_key: conv::REDIS_SECRET_KEY,
    },
];

/// The shortest sealed value accepted. `kubeseal` output holds an RSA-encrypted session
/// key (256 or 512 bytes) before the ciphertext, so real values are 350+ base64
/// characters; anything much shorter is a typed-in value.
pub const MIN_SEALED_LEN: usize = 300;

/// How credentials reach the cluster.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case", tag = "provider")]
pub enum Secrets {
    /// Bitnami Sealed Secrets: encrypted values committed to Git.
    SealedSecrets {
        /// `(credential, kubeseal output)`, in [`CREDENTIALS`] order.
        #[serde(serialize_with = "by_name")]
        encrypted: Vec<(Credential, String)>,
    },
    /// External Secrets Operator: references into a secret manager.
    ExternalSecrets {
        /// Name of the (Cluster)SecretStore.
        store: String,
        /// `SecretStore` or `ClusterSecretStore`.
        store_kind: StoreKind,
        /// `(credential, remote reference)`, in [`CREDENTIALS`] order.
        #[serde(serialize_with = "by_name")]
        keys: Vec<(Credential, RemoteRef)>,
    },
}

/// `explain` shows credentials as the environment file writes them: name -> value.
fn by_name<S: serde::Serializer, V: std::fmt::Display>(
    values: &[(Credential, V)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(values.iter().map(|(c, v)| (c.name, v.to_string())))
}

/// Kind of the store an ExternalSecret reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StoreKind {
    /// A store in the environment's namespace.
    SecretStore,
    /// A store for the whole cluster.
    ClusterSecretStore,
}

impl StoreKind {
    /// The kind's name, as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::SecretStore => "SecretStore",
            StoreKind::ClusterSecretStore => "ClusterSecretStore",
        }
    }
}

/// A value in a secret manager: the secret's path and the property inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// Path of the remote secret, e.g. `kubestore/prod/mysql`.
    pub key: String,
    /// Property inside it, e.g. `root-password`.
    pub property: String,
}

impl std::fmt::Display for RemoteRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.key, self.property)
    }
}

/// `secrets.provider` for Bitnami's sealed-secrets controller.
pub const SEALED_SECRETS: &str = "sealed-secrets";
/// `secrets.provider` for the External Secrets Operator.
pub const EXTERNAL_SECRETS: &str = "external-secrets";
const PROVIDERS: [&str; 2] = [SEALED_SECRETS, EXTERNAL_SECRETS];
const STORE_KINDS: [&str; 2] = ["ClusterSecretStore", "SecretStore"];

/// Validates `secrets`, recording every problem in `c`.
pub(super) fn validate(c: &mut Check) -> Checked<Secrets> {
    let mark = c.mark();
    let loaded = c.loaded();
    let Some(spec) = &loaded.spec.secrets else {
        return Err(c.error(
            "secrets",
            format!(
                "every environment must say where its credentials come from: add `secrets:` \
                 with `provider: {}` (encrypted values inline) or `provider: {}` (references \
                 into a secret manager)",
                PROVIDERS[0], PROVIDERS[1]
            ),
        ));
    };
    let secrets = match spec.provider.as_deref() {
        None => Err(c.error(
            "secrets.provider",
            format!("missing: expected `{}` or `{}`", PROVIDERS[0], PROVIDERS[1]),
        )),
        Some(SEALED_SECRETS) => sealed(c, spec, &loaded.spec.namespace),
        Some(EXTERNAL_SECRETS) => external(c, spec),
        Some(other) => Err(c.error("secrets.provider", unknown("provider", other, &PROVIDERS))),
    };
    c.clean_since(mark)?;
    secrets
}

/// The value of every credential in `map` (at `key`), reporting unknown and missing ones.
fn per_credential<'a>(
    c: &mut Check,
    map: &'a std::collections::BTreeMap<String, String>,
    key: &str,
) -> Vec<(Credential, &'a String)> {
    let names: Vec<&str> = CREDENTIALS.iter().map(|c| c.name).collect();
    for name in map.keys() {
        if !names.contains(&name.as_str()) {
            c.error(
                &format!("{key}.{name}"),
                unknown("credential", name, &names),
            );
        }
    }
    let mut found = Vec::new();
    for credential in CREDENTIALS {
        match map.get(credential.name) {
            Some(value) => found.push((credential, value)),
            None => {
                c.error(
                    key,
                    format!("missing `{}` ({})", credential.name, credential.description),
                );
            }
        }
    }
    found
}

/// Fields that belong to the other provider are mistakes, not harmless extras: a reader
/// would believe they take effect.
fn refuse(c: &mut Check, present: bool, key: &str, provider: &str) {
    if present {
        c.error(key, format!("only used with `provider: {provider}`"));
    }
}

fn sealed(c: &mut Check, spec: &SecretsSpec, namespace: &str) -> Checked<Secrets> {
    refuse(c, spec.store.is_some(), "secrets.store", EXTERNAL_SECRETS);
    refuse(
        c,
        spec.store_kind.is_some(),
        "secrets.store_kind",
        EXTERNAL_SECRETS,
    );
    refuse(c, spec.keys.is_some(), "secrets.keys", EXTERNAL_SECRETS);
    let Some(map) = &spec.encrypted else {
        return Err(c.error(
            "secrets",
            "sealed-secrets needs `encrypted:` with the kubeseal output of mysql-root-password \
             and redis-password",
        ));
    };
    let mut encrypted = Vec::new();
    for (credential, value) in per_credential(c, map, "secrets.encrypted") {
        if looks_sealed(value) {
            encrypted.push((credential, value.clone()));
        } else {
            c.error(
                &format!("secrets.encrypted.{}", credential.name),
                format!(
                    "does not look like kubeseal output (at least {MIN_SEALED_LEN} base64 \
                     characters); never commit a plaintext value: seal it with `kubeseal --raw \
                     --namespace {namespace} --name {}`",
                    credential.secret
                ),
            );
        }
    }
    Ok(Secrets::SealedSecrets { encrypted })
}

/// Long standard base64, padding only at the end.
pub fn looks_sealed(value: &str) -> bool {
    let body = value.trim_end_matches('=');
    value.len() >= MIN_SEALED_LEN
        && value.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

fn external(c: &mut Check, spec: &SecretsSpec) -> Checked<Secrets> {
    refuse(
        c,
        spec.encrypted.is_some(),
        "secrets.encrypted",
        SEALED_SECRETS,
    );
    let store = match &spec.store {
        None => Err(c.error(
            "secrets.store",
            "missing: the name of the SecretStore or ClusterSecretStore to read from",
        )),
        Some(store) if !dns::is_subdomain(store) => Err(c.error(
            "secrets.store",
            format!("`{store}` is not a valid store name (a DNS subdomain)"),
        )),
        Some(store) => Ok(store.clone()),
    };
    let store_kind = match spec.store_kind.as_deref() {
        None | Some("ClusterSecretStore") => Ok(StoreKind::ClusterSecretStore),
        Some("SecretStore") => Ok(StoreKind::SecretStore),
        Some(other) => Err(c.error(
            "secrets.store_kind",
            unknown("store kind", other, &STORE_KINDS),
        )),
    };
    let Some(map) = &spec.keys else {
        return Err(c.error(
            "secrets",
            "external-secrets needs `keys:` with the remote reference (`path#property`) of \
             mysql-root-password and redis-password",
        ));
    };
    let mut keys = Vec::new();
    for (credential, value) in per_credential(c, map, "secrets.keys") {
        match remote_ref(value) {
            Some(reference) => keys.push((credential, reference)),
            None => {
                c.error(
                    &format!("secrets.keys.{}", credential.name),
                    "is not a remote reference: expected `path/to/secret#property`, such as \
                     `kubestore/prod/mysql#root-password`; the value itself never goes in this \
                     file",
                );
            }
        }
    }
    Ok(Secrets::ExternalSecrets {
        store: store?,
        store_kind: store_kind?,
        keys,
    })
}

/// `path/to/secret#property`: a path of at least two segments of `[A-Za-z0-9._-]`, and a
/// property of the same characters. A password rarely has that shape; the `/` and `#`
/// make one typed in by mistake stand out.
pub fn remote_ref(value: &str) -> Option<RemoteRef> {
    let (key, property) = value.split_once('#')?;
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    let segments: Vec<&str> = key.split('/').collect();
    (segments.len() >= 2 && segments.iter().all(|s| word(s)) && word(property)).then(|| RemoteRef {
        key: key.to_owned(),
        property: property.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_references_have_a_path_and_a_property() {
        assert_eq!(
            remote_ref("kubestore/prod/mysql#root-password"),
            Some(RemoteRef {
                key: "kubestore/prod/mysql".into(),
                property: "root-password".into()
            })
        );
        for bad in ["hunter2", "s3cret#x", "a/b#", "/a#b", "a b/c#d", "a/b#c#d"] {
            assert_eq!(remote_ref(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_long_base64_passes_for_sealed() {
        let blob = "AgB".repeat(120);
        assert!(looks_sealed(&blob));
        assert!(looks_sealed(&format!("{blob}==")));
        assert!(!looks_sealed("correct horse battery staple"));
        assert!(!looks_sealed(&"AgB".repeat(50)));
        assert!(!looks_sealed(&format!("{blob} ")));
        assert!(!looks_sealed(&format!("{blob}=x")));
    }
}
