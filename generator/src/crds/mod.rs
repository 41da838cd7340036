//! Typed custom resources: Istio, Argo CD, Argo Rollouts, Sealed Secrets and External
//! Secrets.
//!
//! `k8s-openapi` types only the core API, so the custom resources the generator writes get
//! serde structs of ours, holding just the fields we render. Field names and value sets
//! follow each CRD's `openAPIV3Schema` (the upstream copies in `shared/schemas/crds`);
//! `tests/crd_schemas.rs` checks every rendered object against them.

pub mod argocd;
pub mod istio;
pub mod monitoring;
pub mod rollouts;
pub mod secrets;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

/// A spec type that belongs to one custom resource kind.
pub trait Resource: Serialize {
    /// `group/version` of the kind.
    const API_VERSION: &'static str;
    /// The kind.
    const KIND: &'static str;
}

/// A custom resource: type metadata, object metadata and a typed spec.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Custom<S> {
    api_version: &'static str,
    kind: &'static str,
    /// Name, labels, annotations.
    pub metadata: ObjectMeta,
    /// The spec.
    pub spec: S,
}

impl<S: Resource> Custom<S> {
    /// Wraps `spec` with the kind's `apiVersion` and `kind`.
    pub fn new(metadata: ObjectMeta, spec: S) -> Self {
        Self {
            api_version: S::API_VERSION,
            kind: S::KIND,
            metadata,
            spec,
        }
    }
}
