//! What the stack runs for an environment, and with which files: everything derived from
//! the generator (the Envoy bootstraps, the rules, each service's ConfigMap) and from the
//! one port plan, [`LocalPorts`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use kubestore_core::canary::POD_TEMPLATE_HASH_SERIES_LABEL;
use kubestore_core::catalog::{self, Datastore};
use kubestore_core::model::Environment;
use kubestore_core::runtime::{METRICS_PATH, READYZ_PATH, env};
use kubestore_gen::envoy::ports::{CANARY_REPLICA, LocalPorts, REPLICAS};
use kubestore_gen::envoy::{INGRESS_FILE, sidecar_file};
use kubestore_gen::render;
use serde::{Deserialize, Serialize};

use crate::procs::{Probe, Spec};

/// Where the tools and service binaries are.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The Envoy binary.
    pub envoy: PathBuf,
    /// Prometheus.
    pub prometheus: PathBuf,
    /// Alertmanager.
    pub alertmanager: PathBuf,
    /// Folder of the service binaries (`users`, `products`, ...).
    pub bin_dir: PathBuf,
}

/// MySQL and Redis of the stack.
#[derive(Debug, Clone)]
pub struct Stores {
    /// Server URL without database, e.g. `mysql://root@127.0.0.1:3306`.
    pub mysql: String,
    /// Redis URL with database number.
    pub redis: String,
}

impl Default for Stores {
    fn default() -> Self {
        Self {
            mysql: "mysql://root@127.0.0.1:3306".into(),
            redis: "redis://127.0.0.1:6379/3".into(),
        }
    }
}

/// The stack's layout for one environment.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The environment.
    pub env: Environment,
    /// The port plan.
    pub ports: LocalPorts,
    /// Run folder: configs, logs, data, state.
    pub run_dir: PathBuf,
    /// Tools.
    pub tools: Tools,
    /// Stores.
    pub stores: Stores,
    /// Alertmanager webhook receivers (URLs).
    pub webhooks: Vec<String>,
    /// Settings a release changed, per service (what the cluster would carry in the new
    /// pod template).
    pub versions: BTreeMap<String, Versions>,
}

/// The settings of a service's versions beyond its ConfigMap: those of the stable
/// replicas, and those of the canary while a release runs. They make the version, so they
/// make its pod-template hash too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions {
    /// `KEY=VALUE` settings of the stable replicas.
    pub stable: Vec<(String, String)>,
    /// Those of the canary, while one runs.
    pub canary: Option<Vec<(String, String)>>,
}

/// A version's pod-template hash: what Argo Rollouts labels its pods with, computed here
/// from what makes the version (the service and its changed settings), FNV-1a, 10 hex
/// digits.
pub fn template_hash(service: &str, settings: &[(String, String)]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut sorted = settings.to_vec();
    sorted.sort();
    let text = sorted
        .iter()
        .fold(service.to_owned(), |acc, (k, v)| format!("{acc}\n{k}={v}"));
    for b in text.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:010x}", hash & 0xff_ffff_ffff)
}

/// Name of a service replica's process.
pub fn app_name(service: &str, replica: u16) -> String {
    format!("{service}-{replica}")
}

/// Name of a replica's sidecar process.
pub fn sidecar_name(service: &str, replica: u16) -> String {
    format!("{service}-{replica}-envoy")
}

/// Name of the ingress gateway process.
pub const INGRESS: &str = "ingress";
/// Name of the Prometheus process.
pub const PROMETHEUS: &str = "prometheus";
/// Name of the Alertmanager process.
pub const ALERTMANAGER: &str = "alertmanager";
/// How often Prometheus scrapes and evaluates on one machine (15 s in the cluster): short,
/// so that a test sees a burn within seconds of it starting.
pub const SCRAPE_INTERVAL: &str = "5s";

impl Plan {
    /// Folder of the Envoy bootstraps.
    pub fn envoy_dir(&self) -> PathBuf {
        self.run_dir.join("envoy")
    }

    fn logs(&self, name: &str) -> PathBuf {
        self.run_dir.join("logs").join(format!("{name}.log"))
    }

    /// Database of a MySQL service in this stack.
    pub fn database_url(&self, service: &str) -> String {
        format!(
            "{}/kst_stack_{}_{service}",
            self.stores.mysql,
            self.env.name.replace('-', "_")
        )
    }

    /// The store's public address (the ingress gateway).
    pub fn store_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.ingress())
    }

    /// Prometheus.
    pub fn prometheus_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.prometheus())
    }

    /// Alertmanager.
    pub fn alertmanager_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.alertmanager())
    }

    /// The settings of replica `replica` of `service` (the canary replica's while a
    /// release runs).
    pub fn settings(&self, service: &str, replica: u16) -> &[(String, String)] {
        let versions = self.versions.get(service);
        let canary = versions.and_then(|v| v.canary.as_deref());
        match (replica == CANARY_REPLICA, canary) {
            (true, Some(settings)) => settings,
            _ => versions.map_or(&[], |v| v.stable.as_slice()),
        }
    }

    /// The pod-template hash of replica `replica` of `service`.
    pub fn replica_hash(&self, service: &str, replica: u16) -> String {
        template_hash(service, self.settings(service, replica))
    }

    /// The replicas of `service` that run: the stable ones, and the canary during a
    /// release.
    pub fn replicas(&self, service: &str) -> Vec<u16> {
        let canary = self
            .versions
            .get(service)
            .is_some_and(|v| v.canary.is_some());
        (0..REPLICAS)
            .chain(canary.then_some(CANARY_REPLICA))
            .collect()
    }

    /// The environment variables of a replica: its ConfigMap, as the cluster would give it,
    /// with the addresses of this machine: its own port, its dependencies through its
    /// sidecar's outbound listeners, and the stack's databases.
    pub fn app_env(&self, service: &str, replica: u16) -> Vec<(String, String)> {
        let def = catalog::service(service).expect("a catalogue service");
        let configmap = render::render_all(&self.env)
            .into_iter()
            .find(|o| o.file == format!("{service}-configmap"));
        let mut vars: Vec<(String, String)> = configmap
            .and_then(|o| o.value.get("data").cloned())
            .and_then(|d| d.as_object().cloned())
            .into_iter()
            .flatten()
            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let mut set = |key: &str, value: String| {
            vars.retain(|(k, _)| k != key);
            vars.push((key.to_owned(), value));
        };
        set(
            env::LISTEN_ADDR,
            format!("127.0.0.1:{}", self.ports.app(def, replica)),
        );
        // Debug logs of ten processes under load would cost more CPU than the load itself.
        set(
            env::RUST_LOG,
            std::env::var("KUBESTORE_STACK_LOG").unwrap_or_else(|_| "warn".into()),
        );
        for dependency in def.calls {
            let dep = catalog::service(dependency).expect("a catalogue service");
            set(
                &dep.url_variable(),
                format!(
                    "http://127.0.0.1:{}",
                    self.ports.outbound(def, replica, dependency)
                ),
            );
        }
        match def.datastore {
            Some(Datastore::Mysql) => set(env::DATABASE_URL, self.database_url(service)),
            Some(Datastore::Redis) => set(env::REDIS_URL, self.stores.redis.clone()),
            None => {}
        }
        // Last: a version's own settings win, a wrong dependency address included.
        for (key, value) in self.settings(service, replica) {
            set(key, value.clone());
        }
        vars
    }

    /// A replica's process.
    pub fn app_spec(&self, service: &str, replica: u16) -> Spec {
        let def = catalog::service(service).expect("a catalogue service");
        let name = app_name(service, replica);
        Spec {
            program: self.tools.bin_dir.join(service),
            args: vec!["serve".into()],
            env: self.app_env(service, replica),
            log: self.logs(&name),
            probe: Probe {
                port: self.ports.app(def, replica),
                path: READYZ_PATH.into(),
            },
            name,
        }
    }

    /// The `migrate` run of a service (creates its database, applies its migrations).
    pub fn migrate_spec(&self, service: &str) -> Spec {
        let mut spec = self.app_spec(service, 0);
        spec.name = format!("{service}-migrate");
        spec.args = vec!["migrate".into()];
        spec.log = self.logs(&spec.name);
        spec
    }

    fn envoy_spec(&self, name: String, file: &str, admin: u16) -> Spec {
        Spec {
            program: self.tools.envoy.clone(),
            args: vec![
                "-c".into(),
                self.envoy_dir().join(file).display().to_string(),
                "--disable-hot-restart".into(),
                "--concurrency".into(),
                "1".into(),
                "-l".into(),
                "warn".into(),
            ],
            env: Vec::new(),
            log: self.logs(&name),
            probe: Probe {
                port: admin,
                path: "/ready".into(),
            },
            name,
        }
    }

    /// A replica's sidecar.
    pub fn sidecar_spec(&self, service: &str, replica: u16) -> Spec {
        let def = catalog::service(service).expect("a catalogue service");
        self.envoy_spec(
            sidecar_name(service, replica),
            &sidecar_file(service, replica),
            self.ports.sidecar_admin(def, replica),
        )
    }

    /// The ingress gateway.
    pub fn ingress_spec(&self) -> Spec {
        self.envoy_spec(INGRESS.into(), INGRESS_FILE, self.ports.ingress_admin())
    }

    /// Prometheus, with this run's configuration and data.
    pub fn prometheus_spec(&self) -> Spec {
        let dir = self.run_dir.join("prometheus");
        Spec {
            name: PROMETHEUS.into(),
            program: self.tools.prometheus.clone(),
            args: vec![
                format!(
                    "--config.file={}",
                    dir.join(kubestore_gen::tree::PROMETHEUS_CONFIG).display()
                ),
                format!("--storage.tsdb.path={}", dir.join("data").display()),
                format!("--web.listen-address=127.0.0.1:{}", self.ports.prometheus()),
                "--web.enable-lifecycle".into(),
                "--storage.tsdb.retention.time=1d".into(),
            ],
            env: Vec::new(),
            log: self.logs(PROMETHEUS),
            probe: Probe {
                port: self.ports.prometheus(),
                path: "/-/ready".into(),
            },
        }
    }

    /// Alertmanager, without clustering.
    pub fn alertmanager_spec(&self) -> Spec {
        let dir = self.run_dir.join("alertmanager");
        Spec {
            name: ALERTMANAGER.into(),
            program: self.tools.alertmanager.clone(),
            args: vec![
                format!("--config.file={}", dir.join("alertmanager.yml").display()),
                format!("--storage.path={}", dir.join("data").display()),
                format!(
                    "--web.listen-address=127.0.0.1:{}",
                    self.ports.alertmanager()
                ),
                "--cluster.listen-address=".into(),
            ],
            env: Vec::new(),
            log: self.logs(ALERTMANAGER),
            probe: Probe {
                port: self.ports.alertmanager(),
                path: "/-/ready".into(),
            },
        }
    }

    /// Every long-running process in start order: sidecars before their apps (the pods
    /// hold the app until the proxy runs), callees before callers, the ingress, then the
    /// monitoring.
    pub fn specs(&self) -> Vec<Spec> {
        let mut out = Vec::new();
        // Catalogue order lists the frontend first; start the leaves first.
        let mut services: Vec<&str> = self.env.services.iter().map(|s| s.name()).collect();
        services.sort_by_key(|s| catalog::service(s).map_or(0, |d| d.calls.len()));
        for service in services {
            for replica in self.replicas(service) {
                out.push(self.sidecar_spec(service, replica));
                out.push(self.app_spec(service, replica));
            }
        }
        out.push(self.ingress_spec());
        out.push(self.alertmanager_spec());
        out.push(self.prometheus_spec());
        out
    }

    /// The labels of a replica's series, as the cluster's monitors give them: its namespace,
    /// pod and pod-template hash (`podTargetLabels`).
    fn pod_labels(&self, service: &str, replica: u16) -> Value {
        json!({
            "namespace": self.env.namespace,
            "pod": app_name(service, replica),
            POD_TEMPLATE_HASH_SERIES_LABEL: self.replica_hash(service, replica),
        })
    }

    /// Prometheus' configuration: every replica, every sidecar and the ingress, with the
    /// labels the cluster's ServiceMonitors and PodMonitor give (`job`, `namespace`,
    /// `pod`), the environment's rules, and this Alertmanager.
    pub fn prometheus_config(&self) -> Value {
        let ns = &self.env.namespace;
        let mut jobs = Vec::new();
        for service in &self.env.services {
            let targets: Vec<Value> = self
                .replicas(service.name())
                .into_iter()
                .map(|r| {
                    json!({
                        "targets": [format!("127.0.0.1:{}", self.ports.app(service.def, r))],
                        "labels": self.pod_labels(service.name(), r),
                    })
                })
                .collect();
            jobs.push(json!({
                "job_name": service.name(),
                "metrics_path": METRICS_PATH,
                "static_configs": targets,
            }));
        }
        let mut proxies: Vec<Value> = Vec::new();
        for service in &self.env.services {
            for r in self.replicas(service.name()) {
                proxies.push(json!({
                    "targets": [format!("127.0.0.1:{}", self.ports.sidecar_admin(service.def, r))],
                    "labels": self.pod_labels(service.name(), r),
                }));
            }
        }
        proxies.push(json!({
            "targets": [format!("127.0.0.1:{}", self.ports.ingress_admin())],
            "labels": {"namespace": "istio-system", "pod": "istio-ingressgateway"},
        }));
        jobs.push(json!({
            "job_name": format!("{ns}/istio-proxies"),
            "metrics_path": "/stats/prometheus",
            "static_configs": proxies,
        }));
        json!({
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
            "rule_files": [kubestore_gen::tree::RULES_FILE],
            "alerting": {"alertmanagers": [{"static_configs": [{
                "targets": [format!("127.0.0.1:{}", self.ports.alertmanager())]}]}]},
            "scrape_configs": jobs,
        })
    }

    /// Alertmanager's configuration: every alert to the configured webhooks, quickly
    /// grouped, resolutions included.
    pub fn alertmanager_config(&self) -> Value {
        let webhooks: Vec<Value> = self
            .webhooks
            .iter()
            .map(|url| json!({"url": url, "send_resolved": true}))
            .collect();
        let mut receiver = json!({"name": "stack"});
        if !webhooks.is_empty() {
            receiver["webhook_configs"] = Value::Array(webhooks);
        }
        json!({
            "route": {
                "receiver": "stack",
                "group_by": ["alertname", "service", "slo"],
                "group_wait": "1s",
                "group_interval": "5s",
                "repeat_interval": "1h",
            },
            "receivers": [receiver],
        })
    }

    /// Writes every configuration file of the run; returns the Envoy files whose content
    /// changed.
    pub fn write_configs(&self) -> anyhow::Result<Vec<String>> {
        let envoy_dir = self.envoy_dir();
        let before: Vec<(String, String)> = read_dir_texts(&envoy_dir);
        kubestore_gen::write_envoy_configs(&self.env, self.ports, &envoy_dir)?;
        let after = read_dir_texts(&envoy_dir);
        let changed = after
            .iter()
            .filter(|entry| !before.contains(entry))
            .map(|(name, _)| name.clone())
            .collect();
        let prom = self.run_dir.join("prometheus");
        write_yaml(
            &prom.join(kubestore_gen::tree::PROMETHEUS_CONFIG),
            &self.prometheus_config(),
        )?;
        write_yaml(
            &prom.join(kubestore_gen::tree::RULES_FILE),
            &render::slo_rules::rules_file(&self.env),
        )?;
        write_yaml(
            &self.run_dir.join("alertmanager").join("alertmanager.yml"),
            &self.alertmanager_config(),
        )?;
        Ok(changed)
    }
}

fn read_dir_texts(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            std::fs::read_to_string(e.path()).ok().map(|t| (name, t))
        })
        .collect();
    out.sort();
    out
}

fn write_yaml(path: &Path, value: &Value) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = serde_saphyr::to_string(value).expect("JSON values serialize");
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
