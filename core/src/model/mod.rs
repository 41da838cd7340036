//! The validated domain model. An [`Environment`] can only be built by
//! [`Environment::from_loaded`], which runs every check and reports every problem at once,
//! so renderers never meet a bad value. Fields are public for reading; the private marker
//! keeps anyone outside this module from assembling an unchecked value.

mod across;
mod check;
pub mod dns;
mod images;
mod layers;
pub mod secrets;
mod service;
pub mod slo;
pub mod units;
mod validate;

use serde::Serialize;

pub use across::conflicts;
pub use service::{Disruption, Image, Replicas, Resilience, Resources, Retries, Service};
pub use units::{CountOrPercent, Duration, Percent, Quantity};

use crate::spec::{ConfigErrors, Loaded};

/// A fully validated environment, every default filled in.
// Not `#[non_exhaustive]`: that would still let the rest of the crate build one unchecked.
#[allow(clippy::manual_non_exhaustive)]
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    /// Environment name (`prod`).
    pub name: String,
    /// Namespace of the store.
    pub namespace: String,
    /// API server Argo CD deploys to.
    pub cluster: String,
    /// Where Argo CD reads the rendered tree.
    pub git: Git,
    /// Automated Argo CD sync with prune and self-heal.
    pub automated_sync: bool,
    /// Public entry point.
    pub ingress: Ingress,
    /// Mesh settings.
    pub mesh: Mesh,
    /// The stateless services, in catalogue order.
    pub services: Vec<Service>,
    /// MySQL store.
    pub mysql: Store,
    /// Redis store.
    pub redis: Store,
    /// Monitoring stack.
    pub monitoring: Monitoring,
    /// Service level objectives.
    pub slos: slo::Slos,
    /// Fault-injection experiments (empty unless the environment allows chaos).
    pub experiments: Vec<Experiment>,
    /// Where the credentials come from.
    pub secrets: secrets::Secrets,
    /// Image of the post-sync SLO check, `<registry>/slo-check:<tag>`.
    pub slo_check_image: Image,
    /// See [`Environment::warnings`].
    #[serde(skip)]
    warnings: Vec<crate::spec::ConfigError>,
    #[serde(skip)]
    _validated: (),
}

impl Environment {
    /// Validates a loaded file into an environment, or returns every problem found.
    pub fn from_loaded(loaded: &Loaded) -> Result<Self, ConfigErrors> {
        validate::environment(loaded)
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.def.name == name)
    }

    /// Problems found while validating that do not stop a render, in file order.
    pub fn warnings(&self) -> &[crate::spec::ConfigError] {
        &self.warnings
    }
}

/// Git source of the rendered tree.
#[derive(Debug, Clone, Serialize)]
pub struct Git {
    /// Repository URL.
    pub repo: String,
    /// Revision.
    pub revision: String,
    /// Folder of the rendered tree.
    pub path: String,
}

/// Public entry point.
#[derive(Debug, Clone, Serialize)]
pub struct Ingress {
    /// Host name.
    pub host: String,
    /// TLS Secret name served by the ingress gateway.
    pub tls_credential: String,
}

/// Which layer retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RetryLayer {
    /// Istio retries; the services do not.
    Mesh,
    /// The services retry; Istio does not.
    App,
}

/// Mesh settings.
#[derive(Debug, Clone, Serialize)]
pub struct Mesh {
    /// STRICT (true) or PERMISSIVE mTLS.
    pub strict_mtls: bool,
    /// Which layer retries.
    pub retries_in: RetryLayer,
}

/// A stateful store.
#[derive(Debug, Clone, Serialize)]
pub struct Store {
    /// Container image.
    pub image: Image,
    /// Volume size.
    pub storage: Quantity,
    /// StorageClass, or the cluster default.
    pub storage_class: Option<String>,
    /// Container resources.
    pub resources: Resources,
}

/// Monitoring stack.
#[derive(Debug, Clone, Serialize)]
pub struct Monitoring {
    /// Namespace Prometheus scrapes from.
    pub namespace: String,
    /// Prometheus URL.
    pub prometheus_url: String,
    /// The Service [`Monitoring::prometheus_url`] reaches, which the SLO check's egress
    /// policy admits; it says nothing the URL does not.
    #[serde(skip)]
    pub prometheus: ClusterService,
    /// Grafana folder.
    pub grafana_folder: String,
}

/// A Service of the cluster, reached on one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterService {
    /// The Service's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The port a client connects to.
    pub port: u16,
}

/// A fault-injection experiment.
#[derive(Debug, Clone, Serialize)]
pub struct Experiment {
    /// Name.
    pub name: String,
    /// Target service.
    pub service: String,
    /// Path prefix, or every route.
    pub route: Option<String>,
    /// Injected delay and the share of requests it hits.
    pub delay: Option<(Duration, Percent)>,
    /// Injected status and the share of requests it hits.
    pub abort: Option<(u16, Percent)>,
}
