//! Credentials without plaintext: Bitnami `SealedSecret` (`bitnami.com/v1alpha1`) and
//! External Secrets `ExternalSecret` (`external-secrets.io/v1`, the CRD's only served
//! version).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::Resource;

/// `SealedSecret`: values only the cluster's sealed-secrets controller can decrypt.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretSpec {
    /// Encrypted value per Secret key (`kubeseal` output).
    pub encrypted_data: BTreeMap<String, String>,
    /// Shape of the Secret the controller creates.
    pub template: SecretTemplate,
}

impl Resource for SealedSecretSpec {
    const API_VERSION: &'static str = "bitnami.com/v1alpha1";
    const KIND: &'static str = "SealedSecret";
}

/// Metadata and type of the decrypted Secret.
#[derive(Debug, Clone, Serialize)]
pub struct SecretTemplate {
    /// Its name and labels.
    pub metadata: ObjectMeta,
    /// Secret type.
    #[serde(rename = "type")]
    pub type_: String,
}

/// `ExternalSecret`: a Secret the operator fills from a secret manager.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretSpec {
    /// How often the operator re-reads the remote values.
    pub refresh_interval: String,
    /// The store to read from.
    pub secret_store_ref: SecretStoreRef,
    /// The Secret to write.
    pub target: ExternalSecretTarget,
    /// One entry per Secret key.
    pub data: Vec<ExternalSecretData>,
}

impl Resource for ExternalSecretSpec {
    const API_VERSION: &'static str = "external-secrets.io/v1";
    const KIND: &'static str = "ExternalSecret";
}

/// A (Cluster)SecretStore.
#[derive(Debug, Clone, Serialize)]
pub struct SecretStoreRef {
    /// Its name.
    pub name: String,
    /// `SecretStore` or `ClusterSecretStore`.
    pub kind: String,
}

/// The Secret an ExternalSecret writes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretTarget {
    /// Its name.
    pub name: String,
    /// `Owner`: the Secret is created by, and deleted with, the ExternalSecret.
    pub creation_policy: String,
    /// What happens to the Secret when the remote value disappears.
    pub deletion_policy: String,
}

/// One Secret key and where its value lives.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretData {
    /// Key in the Secret.
    pub secret_key: String,
    /// The remote value.
    pub remote_ref: RemoteRef,
}

/// A value in the secret manager.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteRef {
    /// Path of the remote secret.
    pub key: String,
    /// Property inside it.
    pub property: String,
}
