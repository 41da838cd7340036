//! `up`, `down`, `restart`, `apply`: the stack's life cycle. The state file records every
//! process `up` started (pid and start time), so `down` stops exactly those, and a second
//! `up` only starts what is missing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use kubestore_core::catalog;
use kubestore_gen::envoy::ports::{LocalPorts, REPLICAS};

use crate::http;
use crate::plan::{self, Plan, Stores, Tools};
use crate::procs::{self, Running, Spec};

/// File in the run folder that records what runs.
pub const STATE_FILE: &str = "state.json";
/// How long a process may take to become ready.
const READY_LIMIT: Duration = Duration::from_secs(60);

/// What `up` was asked for, kept so that later commands rebuild the same plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Environment name.
    pub env: String,
    /// Folder of the environment files.
    pub environments: PathBuf,
    /// First port of the port plan.
    pub port_base: u16,
    /// Folder of the service binaries.
    pub bin_dir: PathBuf,
    /// Alertmanager webhooks.
    pub webhooks: Vec<String>,
}

/// The state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// What `up` was asked for.
    pub request: Option<Request>,
    /// Every process started, in start order.
    pub processes: Vec<Running>,
}

/// A stack in a run folder.
#[derive(Debug)]
pub struct Stack {
    /// The plan.
    pub plan: Plan,
    /// What runs.
    pub state: State,
}

fn tools(bin_dir: &Path) -> anyhow::Result<Tools> {
    let tools_dir =
        std::env::var_os("KUBESTORE_TOOLS").unwrap_or_else(|| "/opt/kubestore-tools".into());
    let envoy = Path::new(&tools_dir).join("bin/envoy");
    let find = |name: &str| -> Option<PathBuf> {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|d| d.join(name))
            .find(|p| p.exists())
    };
    let mut missing = Vec::new();
    if !envoy.exists() {
        missing.push(envoy.display().to_string());
    }
    let prometheus = find("prometheus");
    let alertmanager = find("prometheus-alertmanager").or_else(|| find("alertmanager"));
    if prometheus.is_none() {
        missing.push("prometheus".into());
    }
    if alertmanager.is_none() {
        missing.push("prometheus-alertmanager".into());
    }
    for service in catalog::names() {
        if !bin_dir.join(service).exists() {
            missing.push(bin_dir.join(service).display().to_string());
        }
    }
    if !missing.is_empty() {
        bail!(
            "missing: {} (scripts/stack installs the tools with scripts/install-test-deps.sh and builds the services)",
            missing.join(", ")
        );
    }
    Ok(Tools {
        envoy,
        prometheus: prometheus.expect("checked"),
        alertmanager: alertmanager.expect("checked"),
        bin_dir: bin_dir.to_owned(),
    })
}

fn read_state(run_dir: &Path) -> anyhow::Result<State> {
    let path = run_dir.join(STATE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not a stack state file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

impl Stack {
    /// The stack recorded in `run_dir`, or a new one for `request`.
    pub fn open(run_dir: &Path, request: Option<Request>) -> anyhow::Result<Self> {
        let state = read_state(run_dir)?;
        let request = match (&state.request, request) {
            (Some(old), Some(new))
                if state.processes.iter().any(Running::alive) && old.env != new.env =>
            {
                bail!(
                    "a stack of environment `{}` runs in {}; run `down` first",
                    old.env,
                    run_dir.display()
                )
            }
            (_, Some(new)) => new,
            (Some(old), None) => old.clone(),
            (None, None) => bail!("no stack in {}: run `up` first", run_dir.display()),
        };
        let env = kubestore_gen::load_environment(&request.environments, &request.env)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let plan = Plan {
            env,
            ports: LocalPorts {
                base: request.port_base,
            },
            run_dir: run_dir.to_owned(),
            tools: tools(&request.bin_dir)?,
            stores: Stores::default(),
            webhooks: request.webhooks.clone(),
        };
        let mut state = state;
        state.request = Some(request);
        Ok(Self { plan, state })
    }

    fn save(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.plan.run_dir)?;
        let path = self.plan.run_dir.join(STATE_FILE);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(&self.state)?)?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// The recorded process named `name`.
    pub fn process(&self, name: &str) -> Option<&Running> {
        self.state.processes.iter().find(|p| p.spec.name == name)
    }

    fn record(&mut self, running: Running) -> anyhow::Result<()> {
        self.state
            .processes
            .retain(|p| p.spec.name != running.spec.name);
        self.state.processes.push(running);
        self.save()
    }

    fn start(&mut self, spec: &Spec) -> anyhow::Result<()> {
        let running = procs::spawn(spec)?;
        self.record(running.clone())?;
        running.wait_ready(READY_LIMIT)?;
        Ok(())
    }

    /// Brings everything up that does not run yet; the first `up` also checks the stores,
    /// writes the configurations, migrates and seeds. On failure it stops what it started.
    pub fn up(&mut self) -> anyhow::Result<()> {
        let started_before = self.state.processes.iter().filter(|p| p.alive()).count();
        if let Err(e) = self.bring_up() {
            if started_before == 0 {
                self.down();
            }
            return Err(e);
        }
        Ok(())
    }

    fn bring_up(&mut self) -> anyhow::Result<()> {
        check_port("MariaDB", 3306)?;
        check_port("Redis", 6379)?;
        let specs = self.plan.specs();
        let everything_runs = specs
            .iter()
            .all(|s| self.process(&s.name).is_some_and(Running::alive));
        if everything_runs {
            return Ok(());
        }
        if self.state.processes.iter().all(|p| !p.alive()) {
            self.check_ports_free()?;
        }
        self.plan.write_configs()?;
        for service in &self.plan.env.services {
            let spec = self.plan.migrate_spec(service.name());
            let out = std::process::Command::new(&spec.program)
                .args(&spec.args)
                .env_clear()
                .envs(spec.env.iter().map(|(k, v)| (k, v)))
                .output()
                .with_context(|| format!("cannot run {}", spec.program.display()))?;
            if !out.status.success() {
                bail!(
                    "{} migrate failed: {}",
                    service.name(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        for spec in &specs {
            if self.process(&spec.name).is_some_and(Running::alive) {
                continue;
            }
            self.start(spec)?;
        }
        self.wait_mesh_healthy(READY_LIMIT)?;
        self.seed()?;
        Ok(())
    }

    fn check_ports_free(&self) -> anyhow::Result<()> {
        let ports = self.plan.ports;
        for port in ports.base..=ports.last() {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                bail!(
                    "port {port} of the port plan ({}-{}) is taken by another process: choose another --port-base",
                    ports.base,
                    ports.last()
                );
            }
        }
        Ok(())
    }

    /// Gives the catalogue some products when it has none, so that pages have content.
    fn seed(&self) -> anyhow::Result<()> {
        let Some(products) = catalog::service("products") else {
            return Ok(());
        };
        let port = self.plan.ports.app(products, 0);
        let list = http::get(port, "/v1/products?limit=1")?;
        if list.body.contains("\"id\"") {
            return Ok(());
        }
        for i in 1..=12 {
            let body = format!(
                r#"{{"sku":"STACK-{i:03}","name":"Sample product {i}","description":"Seeded by the local stack","price_cents":{},"stock":1000000}}"#,
                500 + i * 125
            );
            let answer = http::request(
                port,
                "POST",
                "/v1/products",
                Some(("application/json", &body)),
            )?;
            if answer.status != 201 && answer.status != 409 {
                bail!("seeding products failed: {} {}", answer.status, answer.body);
            }
        }
        Ok(())
    }

    /// Admin ports of every Envoy that calls `service` (and the ingress for the entry point).
    pub fn caller_admins(&self, service: &str) -> Vec<u16> {
        let ports = self.plan.ports;
        let mut out: Vec<u16> = catalog::callers(service)
            .filter(|c| self.plan.env.service(c.name).is_some())
            .flat_map(|c| (0..REPLICAS).map(move |r| ports.sidecar_admin(c, r)))
            .collect();
        if service == catalog::ENTRY_POINT.name {
            out.push(ports.ingress_admin());
        }
        out
    }

    /// Whether every caller's Envoy counts replica `replica` of `service` as healthy.
    pub fn healthy_in_callers(&self, service: &str, replica: u16) -> bool {
        let def = catalog::service(service).expect("a catalogue service");
        let host = format!("127.0.0.1:{}", self.plan.ports.inbound(def, replica));
        self.caller_admins(service).iter().all(|admin| {
            http::get(*admin, "/clusters").is_ok_and(|a| {
                a.body
                    .lines()
                    .filter(|l| {
                        l.starts_with("outbound|")
                            && l.contains(&format!("::{host}::health_flags::"))
                    })
                    .all(|l| l.ends_with("::healthy"))
            })
        })
    }

    /// Waits until every caller sees every replica healthy.
    pub fn wait_mesh_healthy(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        for service in &self.plan.env.services {
            for r in 0..REPLICAS {
                while !self.healthy_in_callers(service.name(), r) {
                    if Instant::now() > deadline {
                        bail!(
                            "the callers of {} never saw replica {r} healthy",
                            service.name()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        Ok(())
    }

    /// Stops every recorded process, newest first, and forgets them. Idempotent.
    pub fn down(&mut self) -> Vec<String> {
        let alive: Vec<&Running> = self
            .state
            .processes
            .iter()
            .rev()
            .filter(|p| p.alive())
            .collect();
        // All at once: the services drain for seconds each, in parallel.
        for p in &alive {
            p.terminate();
        }
        for p in &alive {
            p.stop(Duration::from_secs(15));
        }
        let stopped = alive.iter().map(|p| p.spec.name.clone()).collect();
        self.state.processes.clear();
        let _ = std::fs::remove_file(self.plan.run_dir.join(STATE_FILE));
        stopped
    }

    /// Replaces each replica of `service` in turn, as a rolling update does: SIGTERM (the
    /// replica fails readiness and drains while the callers' health checks take it out),
    /// wait for it to exit, start the new one, wait until it is ready and every caller
    /// sends to it again.
    pub fn restart(&mut self, service: &str) -> anyhow::Result<()> {
        if self.plan.env.service(service).is_none() {
            bail!(
                "no service `{service}` in this stack (services: {})",
                self.plan
                    .env
                    .services
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let drain = self
            .plan
            .env
            .service(service)
            .map_or(Duration::from_secs(5), |s| {
                Duration::from_millis(s.drain.millis())
            });
        for replica in 0..REPLICAS {
            let name = plan::app_name(service, replica);
            if let Some(old) = self.process(&name).cloned() {
                old.terminate();
                if !old.wait_gone(drain + Duration::from_secs(15)) {
                    old.stop(Duration::from_secs(1));
                }
            }
            self.start(&self.plan.app_spec(service, replica))?;
            let deadline = Instant::now() + READY_LIMIT;
            while !self.healthy_in_callers(service, replica) {
                if Instant::now() > deadline {
                    bail!("the callers never sent to the new {name}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// Starts one recorded process again (after a test killed it), and waits until ready.
    pub fn revive(&mut self, name: &str) -> anyhow::Result<()> {
        let spec = self
            .plan
            .specs()
            .into_iter()
            .find(|s| s.name == name)
            .with_context(|| format!("no process `{name}` in this stack"))?;
        if let Some(p) = self.process(name)
            && p.alive()
        {
            return Ok(());
        }
        self.start(&spec)
    }

    /// Re-renders from the environment file (a chaos experiment added or removed) and
    /// restarts each Envoy whose configuration changed, one at a time; Prometheus reloads
    /// its rules. Returns the restarted Envoys.
    pub fn apply(&mut self) -> anyhow::Result<Vec<String>> {
        let request = self.state.request.clone().context("no stack recorded")?;
        self.plan.env = kubestore_gen::load_environment(&request.environments, &request.env)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let changed = self.plan.write_configs()?;
        let mut restarted = Vec::new();
        for spec in self.plan.specs() {
            let Some(file) = spec.args.get(1) else {
                continue;
            };
            if spec.program != self.plan.tools.envoy
                || !changed.iter().any(|c| file.ends_with(&format!("/{c}")))
            {
                continue;
            }
            if let Some(old) = self.process(&spec.name).cloned() {
                old.stop(Duration::from_secs(5));
            }
            self.start(&spec)?;
            restarted.push(spec.name.clone());
        }
        let _ = http::request(self.plan.ports.prometheus(), "POST", "/-/reload", None);
        self.wait_mesh_healthy(READY_LIMIT)?;
        Ok(restarted)
    }

    /// The shell assignments of `env`.
    pub fn env_lines(&self) -> String {
        format!(
            "STORE_URL={}\nPROMETHEUS_URL={}\nALERTMANAGER_URL={}\n",
            self.plan.store_url(),
            self.plan.prometheus_url(),
            self.plan.alertmanager_url()
        )
    }

    /// Where everything is, for people.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "stack `{}` ({}) in {}\n  store         {}\n  prometheus    {}\n  alertmanager  {}\n",
            self.plan.env.name,
            self.plan.env.namespace,
            self.plan.run_dir.display(),
            self.plan.store_url(),
            self.plan.prometheus_url(),
            self.plan.alertmanager_url()
        );
        for p in &self.state.processes {
            out.push_str(&format!(
                "  {:<20} pid {:<8} {}  127.0.0.1:{}  log {}\n",
                p.spec.name,
                p.pid,
                if p.alive() { "up  " } else { "DOWN" },
                p.spec.probe.port,
                p.spec.log.display()
            ));
        }
        out
    }
}

fn check_port(what: &str, port: u16) -> anyhow::Result<()> {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )
    .map(|_| ())
    .with_context(|| {
        format!(
            "{what} does not answer on 127.0.0.1:{port} (scripts/install-test-deps.sh starts it)"
        )
    })
}
