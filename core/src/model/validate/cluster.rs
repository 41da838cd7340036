//! Where Argo CD deploys (the cluster's API server) and where it reads the rendered tree
//! (the Git source).

use crate::defaults;
use crate::model::Git;
use crate::model::check::{Check, shown_text};
use crate::spec::EnvironmentSpec;

/// The API server Argo CD deploys to.
pub(super) fn cluster(c: &mut Check, spec: &EnvironmentSpec) -> String {
    let cluster = spec
        .cluster
        .clone()
        .unwrap_or_else(|| defaults::CLUSTER.into());
    if !is_api_server_url(&cluster) {
        c.error(
            "cluster",
            format!(
                "{} is not an API server URL: expected e.g. `{}`",
                shown_text(&cluster),
                defaults::CLUSTER
            ),
        );
    }
    cluster
}

/// Argo CD's destination: an `https://` (or `http://`) URL with a host and no spaces.
fn is_api_server_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && !r.starts_with('/')
            && !r.chars().any(|ch| ch.is_whitespace() || ch.is_control())
    })
}

/// Where Argo CD reads the rendered tree: a repository, a revision, a relative folder.
pub(super) fn git(c: &mut Check, spec: &EnvironmentSpec) -> Git {
    let git = spec.git.clone().unwrap_or_default();
    let blank = |v: &str| v.is_empty() || v.chars().any(|ch| ch.is_whitespace() || ch.is_control());
    if let Some(repo) = &git.repo
        && blank(repo)
    {
        c.error(
            "git.repo",
            format!(
                "{} is not a repository URL: expected e.g. `{}`",
                shown_text(repo),
                defaults::GIT_REPO
            ),
        );
    }
    if let Some(revision) = &git.revision
        && blank(revision)
    {
        c.error(
            "git.revision",
            format!("{} is not a branch, tag or commit", shown_text(revision)),
        );
    }
    if let Some(path) = &git.path
        && (blank(path) || path.starts_with('/') || path.split('/').any(|part| part == ".."))
    {
        c.error(
            "git.path",
            format!(
                "{} is not a folder inside the repository: expected a relative path such as `{}`",
                shown_text(path),
                defaults::GIT_PATH
            ),
        );
    }
    Git {
        repo: git.repo.unwrap_or_else(|| defaults::GIT_REPO.into()),
        revision: git
            .revision
            .unwrap_or_else(|| defaults::GIT_REVISION.into()),
        path: git.path.unwrap_or_else(|| defaults::GIT_PATH.into()),
    }
}
