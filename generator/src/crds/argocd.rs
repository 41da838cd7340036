//! Argo CD (`argoproj.io/v1alpha1`): the `AppProject` and the `Application`s of the
//! app-of-apps.

use serde::Serialize;

use super::Resource;

/// `AppProject`: what the store's Applications may read and where they may deploy.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppProjectSpec {
    /// Shown in the Argo CD UI.
    pub description: String,
    /// Repositories Applications may read from.
    pub source_repos: Vec<String>,
    /// Cluster and namespace pairs Applications may deploy to.
    pub destinations: Vec<Destination>,
    /// The only cluster-scoped kinds Applications may manage.
    pub cluster_resource_whitelist: Vec<GroupKind>,
}

impl Resource for AppProjectSpec {
    const API_VERSION: &'static str = "argoproj.io/v1alpha1";
    const KIND: &'static str = "AppProject";
}

/// A deployment target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Destination {
    /// API server URL.
    pub server: String,
    /// Namespace.
    pub namespace: String,
}

/// A kind, by API group (`""` for the core group).
#[derive(Debug, Clone, Serialize)]
pub struct GroupKind {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
}

/// `Application`: one Git folder synced into one destination.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// The AppProject it belongs to.
    pub project: String,
    /// Where the manifests come from.
    pub source: Source,
    /// Where they go.
    pub destination: Destination,
    /// How and when it syncs.
    pub sync_policy: SyncPolicy,
    /// Fields Argo CD does not compare (and, with `RespectIgnoreDifferences`, does not
    /// overwrite).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<IgnoreDifference>,
}

impl Resource for ApplicationSpec {
    const API_VERSION: &'static str = "argoproj.io/v1alpha1";
    const KIND: &'static str = "Application";
}

/// A folder of a Git repository.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// Repository URL.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Branch, tag or commit.
    pub target_revision: String,
    /// Folder inside the repository.
    pub path: String,
}

/// Sync policy.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    /// Sync on every change; absent means by hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automated: Option<Automated>,
    /// `Name=value` options.
    pub sync_options: Vec<String>,
    /// Retries of a failed sync.
    pub retry: Retry,
}

/// Automated sync.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Automated {
    /// Delete what Git no longer holds.
    pub prune: bool,
    /// Undo changes made in the cluster by hand.
    pub self_heal: bool,
}

/// Retry policy of a failed sync.
#[derive(Debug, Clone, Serialize)]
pub struct Retry {
    /// Most retries.
    pub limit: i64,
    /// Waits between them.
    pub backoff: Backoff,
}

/// Exponential backoff.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// First wait.
    pub duration: String,
    /// Growth factor.
    pub factor: i64,
    /// Longest wait.
    pub max_duration: String,
}

/// A field Argo CD leaves alone.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoreDifference {
    /// API group of the kind.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Object name.
    pub name: String,
    /// JSON pointers of the ignored fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// jq paths of the ignored fields, for fields inside lists.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jq_path_expressions: Vec<String>,
}
