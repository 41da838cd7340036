//! Processes the stack starts: each is recorded with its pid and its kernel start time, so
//! `down` stops exactly what `up` started and never a later process that reused the pid.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use serde::{Deserialize, Serialize};

use crate::http;

/// How to tell that a process is ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// Path that answers 200 once ready.
    pub path: String,
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    /// Name in the stack (`products-0`, `products-0-envoy`, `ingress`, `prometheus`).
    pub name: String,
    /// Program.
    pub program: PathBuf,
    /// Arguments.
    pub args: Vec<String>,
    /// Environment variables on top of a clean environment (PATH and HOME kept).
    pub env: Vec<(String, String)>,
    /// Log file (stdout and stderr, appended).
    pub log: PathBuf,
    /// Readiness probe.
    pub probe: Probe,
}

/// A started process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    /// What runs.
    pub spec: Spec,
    /// Its pid.
    pub pid: u32,
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat`, field 22).
    pub start_time: u64,
}

/// What can go wrong with a process.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// It could not be started.
    #[error("cannot start {name} ({program}): {source}")]
    Spawn {
        /// Name.
        name: String,
        /// Program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It exited or never became ready.
    #[error("{name} did not become ready on 127.0.0.1:{port}{path} within {secs} s{}; its log ({log}) ends with:\n{tail}", if *.exited { " (it exited)" } else { "" })]
    NotReady {
        /// Name.
        name: String,
        /// Probe port.
        port: u16,
        /// Probe path.
        path: String,
        /// Wait.
        secs: u64,
        /// Whether it exited.
        exited: bool,
        /// Log file.
        log: String,
        /// Last lines of the log.
        tail: String,
    },
}

/// The kernel's start time of `pid`, or None if it is gone (or a zombie).
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are fixed.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

impl Running {
    /// Whether the recorded process still runs (same pid, same start time).
    pub fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.start_time)
    }

    fn signal(&self, signal: Signal) {
        if self.alive()
            && let Some(pid) = Pid::from_raw(self.pid as i32)
        {
            let _ = kill_process(pid, signal);
        }
    }

    /// SIGKILL, no drain: what a crash looks like.
    pub fn kill(&self) {
        self.signal(Signal::KILL);
        self.wait_gone(Duration::from_secs(5));
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub fn stop(&self, grace: Duration) {
        self.signal(Signal::TERM);
        if !self.wait_gone(grace) {
            self.signal(Signal::KILL);
            self.wait_gone(Duration::from_secs(5));
        }
    }

    /// Sends SIGTERM and returns at once (the process drains on its own).
    pub fn terminate(&self) {
        self.signal(Signal::TERM);
    }

    /// Waits until the process has exited; false if it still runs after `limit`.
    pub fn wait_gone(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.alive() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// Waits until the probe answers 200.
    pub fn wait_ready(&self, limit: Duration) -> Result<(), ProcError> {
        let deadline = Instant::now() + limit;
        loop {
            let alive = self.alive();
            if alive
                && http::get(self.spec.probe.port, &self.spec.probe.path)
                    .is_ok_and(|a| a.status == 200)
            {
                return Ok(());
            }
            if !alive || Instant::now() > deadline {
                return Err(ProcError::NotReady {
                    name: self.spec.name.clone(),
                    port: self.spec.probe.port,
                    path: self.spec.probe.path.clone(),
                    secs: limit.as_secs(),
                    exited: !alive,
                    log: self.spec.log.display().to_string(),
                    tail: tail(&self.spec.log, 15),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The last `n` lines of a log.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Starts `spec` in its own process group (a Ctrl-C in the terminal that ran `up` does not
/// reach it), output appended to its log. A thread reaps it when it exits, so a stopped
/// process never lingers as a zombie in a long-lived caller such as a test.
pub fn spawn(spec: &Spec) -> Result<Running, ProcError> {
    let err = |source| ProcError::Spawn {
        name: spec.name.clone(),
        program: spec.program.display().to_string(),
        source,
    };
    if let Some(dir) = spec.log.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .map_err(err)?;
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| k == "PATH" || k == "HOME"))
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(err)?)
        .stderr(log)
        .process_group(0);
    let mut child = command.spawn().map_err(err)?;
    let pid = child.id();
    std::thread::spawn(move || child.wait());
    // The start time exists as soon as the process does.
    let mut start = None;
    for _ in 0..100 {
        start = start_time(pid);
        if start.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(Running {
        spec: spec.clone(),
        pid,
        start_time: start.unwrap_or_default(),
    })
}
