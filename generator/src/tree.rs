//! The rendered tree's layout: the one place that names its folders and files. The
//! layout, the plain-file renderers, the Argo CD Applications (which point at folders of
//! it), the runbook links in alerts and the pruning of a partial render all ask here, so
//! a folder cannot be written under one name and pruned or linked under another.
//!
//! A render writes two roots: the GitOps tree (`--out`, `gitops/` by default) and, beside
//! it, the dashboards a user imports by hand ([`DASHBOARDS`]).
//!
//! ```text
//! gitops/
//!   base/                   the store as the built-in defaults render it (shared)
//!   overlays/<env>/         what <env> changes: namespace, labels, images, patches
//!   prometheus/<env>/       the one-machine Prometheus: prometheus.yml, rules.yaml
//!   runbooks/<env>.md       what to do when an alert of <env> fires
//!   slo/<env>/<slo>.yaml    the SLOs of <env> as OpenSLO v1
//!   argocd/                 the AppProject, the root and one Application per environment (shared)
//! dashboards/
//!   templates/              the dashboards' minijinja sources (written by hand)
//!   <env>/<slug>.json       the dashboards of <env>, the JSON its ConfigMaps carry
//! ```

use std::path::{Path, PathBuf};

use kubestore_core::model::Environment;

/// The base every overlay builds on.
pub const BASE: &str = "base";

/// The Argo CD manifests, which the root Application syncs.
pub const ARGOCD: &str = "argocd";

/// The rules file inside [`EnvTree::prometheus`], as `prometheus.yml` names it.
pub const RULES_FILE: &str = "rules.yaml";

/// The one-machine Prometheus configuration inside [`EnvTree::prometheus`].
pub const PROMETHEUS_CONFIG: &str = "prometheus.yml";

/// The folder beside the GitOps tree where a user finds the Grafana dashboards.
pub const DASHBOARDS: &str = "dashboards";

/// What [`DASHBOARDS`] holds that is written by hand: a render never rewrites or prunes
/// it (folders with a trailing `/`). An environment named like one of these would
/// collide with it, so `render` refuses one.
pub const DASHBOARDS_SOURCES: &[&str] = &["templates/", "README.md", "provisioning.yaml"];

/// The dashboards folder of a render into `out`: [`DASHBOARDS`] beside it.
pub fn dashboards_dir(out: &Path) -> PathBuf {
    match out.parent() {
        Some(parent) => parent.join(DASHBOARDS),
        None => PathBuf::from(DASHBOARDS),
    }
}

/// Path of the base's file for an object whose file stem is `stem`.
pub fn base_file(stem: &str) -> String {
    format!("{BASE}/{stem}.yaml")
}

/// Path of an Argo CD manifest whose file stem is `stem`.
pub fn argocd_file(stem: &str) -> String {
    format!("{ARGOCD}/{stem}.yaml")
}

/// Where the files of one environment go.
#[derive(Debug, Clone, Copy)]
pub struct EnvTree<'a> {
    name: &'a str,
}

impl<'a> EnvTree<'a> {
    /// The places of `env`.
    pub fn of(env: &'a Environment) -> Self {
        Self { name: &env.name }
    }

    /// `overlays/<env>`: the Kustomize overlay Argo CD syncs.
    pub fn overlay(self) -> String {
        format!("overlays/{}", self.name)
    }

    /// The base as the overlay's `kustomization.yaml` names it: relative to the overlay.
    pub fn base_from_overlay(self) -> String {
        let depth = self.overlay().matches('/').count() + 1;
        format!("{}{BASE}", "../".repeat(depth))
    }

    /// `prometheus/<env>`: the one-machine Prometheus files.
    pub fn prometheus(self) -> String {
        format!("prometheus/{}", self.name)
    }

    /// `runbooks/<env>.md`: the runbook the alerts link to.
    pub fn runbook(self) -> String {
        format!("runbooks/{}.md", self.name)
    }

    /// `slo/<env>`: one OpenSLO document per SLO.
    pub fn openslo(self) -> String {
        format!("slo/{}", self.name)
    }

    /// `<env>` inside [`DASHBOARDS`]: the plain JSON of the environment's dashboards.
    pub fn dashboards(self) -> String {
        self.name.to_owned()
    }

    /// `<env>/<slug>.json` inside [`DASHBOARDS`]: one dashboard to import.
    pub fn dashboard_file(self, slug: &str) -> String {
        format!("{}/{slug}.json", self.dashboards())
    }

    /// Every path of `root` that belongs to this environment alone, folders with a
    /// trailing `/`: what a render of it replaces and prunes. A new place above belongs
    /// here too (`generator/tests/render.rs` checks that every file a render writes is
    /// owned).
    pub fn owned(self, root: Root) -> Vec<String> {
        match root {
            Root::Gitops => vec![
                format!("{}/", self.overlay()),
                format!("{}/", self.prometheus()),
                self.runbook(),
                format!("{}/", self.openslo()),
            ],
            Root::Dashboards => vec![format!("{}/", self.dashboards())],
        }
    }
}

/// The two folders a render writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// The GitOps tree Argo CD syncs (`--out`).
    Gitops,
    /// [`DASHBOARDS`], beside it.
    Dashboards,
}
