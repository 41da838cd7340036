//! The credentials' Secrets, never in plaintext: a SealedSecret per Secret for
//! `sealed-secrets`, an ExternalSecret per Secret for `external-secrets`. The Secret names
//! and keys are those the Deployments and StatefulSets read ([`kubestore_core::conventions`]).
//! They are per environment by nature (sealed values are bound to one namespace), so
//! they live in each overlay, never in the base.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubestore_core::model::Environment;
use kubestore_core::model::secrets::{CREDENTIALS, Secrets};

use super::Object;
use super::workloads::meta;
use crate::crds::Custom;
use crate::crds::secrets::{
    ExternalSecretData, ExternalSecretSpec, ExternalSecretTarget, RemoteRef, SealedSecretSpec,
    SecretStoreRef, SecretTemplate,
};

/// How often External Secrets re-reads a remote value: a rotated password reaches the
/// cluster within the hour without hammering the secret manager.
pub const REFRESH_INTERVAL: &str = "1h";
/// Component label of the credential objects.
const COMPONENT: &str = "credentials";

pub(super) fn render_secrets(env: &Environment) -> Vec<Object> {
    CREDENTIALS
        .iter()
        .map(|credential| {
            let name = credential.secret;
            match &env.secrets {
                Secrets::SealedSecrets { encrypted } => {
                    let data = encrypted
                        .iter()
                        .filter(|(c, _)| c.secret == name)
                        .map(|(c, value)| (c.secret_key.to_owned(), value.clone()))
                        .collect::<BTreeMap<_, _>>();
                    let spec = SealedSecretSpec {
                        encrypted_data: data,
                        template: SecretTemplate {
                            metadata: ObjectMeta {
                                name: Some(name.to_owned()),
                                labels: meta(name, COMPONENT).labels,
                                ..Default::default()
                            },
                            type_: "Opaque".into(),
                        },
                    };
                    Object::new(
                        name,
                        "sealedsecret",
                        &Custom::new(meta(name, COMPONENT), spec),
                    )
                }
                Secrets::ExternalSecrets {
                    store,
                    store_kind,
                    keys,
                } => {
                    let data = keys
                        .iter()
                        .filter(|(c, _)| c.secret == name)
                        .map(|(c, remote)| ExternalSecretData {
                            secret_key: c.secret_key.to_owned(),
                            remote_ref: RemoteRef {
                                key: remote.key.clone(),
                                property: remote.property.clone(),
                            },
                        })
                        .collect();
                    let spec = ExternalSecretSpec {
                        refresh_interval: REFRESH_INTERVAL.into(),
                        secret_store_ref: SecretStoreRef {
                            name: store.clone(),
                            kind: store_kind.as_str().into(),
                        },
                        target: ExternalSecretTarget {
                            name: name.to_owned(),
                            creation_policy: "Owner".into(),
                            // A store outage or a deleted remote key must not delete the
                            // database's password out from under it.
                            deletion_policy: "Retain".into(),
                        },
                        data,
                    };
                    Object::new(
                        name,
                        "externalsecret",
                        &Custom::new(meta(name, COMPONENT), spec),
                    )
                }
            }
        })
        .collect()
}
