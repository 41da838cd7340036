//! The one-machine Prometheus: the rendered `prometheus.yml` starts a real Prometheus
//! (Debian's 2.42, as CI installs), which loads the rendered rules file beside it and
//! evaluates every rule without an error; the SLO metadata series appear.
//!
//! Prometheus is required, like promtool: a missing binary fails the test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kubestore_core::model::Environment;
use serde_json::Value;

fn environments() -> Vec<Environment> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments");
    kubestore_gen::Environments::read(&dir)
        .expect("environments folder")
        .load_all()
        .expect("the environments are valid")
}

/// A Prometheus child process, stopped when dropped.
struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

fn api(port: u16, path: &str) -> Value {
    let (status, body) = get(port, path).unwrap_or_else(|| panic!("GET {path} failed"));
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

fn start(folder: &Path) -> Prometheus {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log = std::fs::File::create(folder.join("prometheus.log")).expect("log file");
    let child = Command::new("prometheus")
        .arg("--config.file=prometheus.yml")
        .arg("--storage.tsdb.path=data")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .current_dir(folder)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("prometheus is required (apt-get install -y prometheus): {e}"));
    let prometheus = Prometheus { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(port, "/-/ready").map(|(s, _)| s) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "prometheus did not get ready:\n{}",
            std::fs::read_to_string(folder.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    prometheus
}

#[test]
fn the_one_machine_prometheus_loads_and_evaluates_every_rule() {
    let envs = environments();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments");
    let tree = kubestore_gen::pipeline::render_tree(&envs, &envs, &dir);
    // dev is the environment that runs on one machine (`source: app`).
    let env = envs
        .iter()
        .find(|e| e.name == "dev")
        .expect("a dev environment");
    let tmp = tempfile::tempdir().expect("temp dir");
    for file in ["prometheus.yml", "rules.yaml"] {
        std::fs::write(
            tmp.path().join(file),
            &tree[&format!("prometheus/dev/{file}")],
        )
        .expect("write");
    }
    let prometheus = start(tmp.path());
    let expected = kubestore_gen::render::slo_rules::groups(env);
    // Groups start at an offset within their interval; the 15s ones are all evaluated
    // within 30s.
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let rules = api(prometheus.port, "/api/v1/rules");
        let groups = rules["data"]["groups"].as_array().expect("groups").clone();
        assert_eq!(groups.len(), expected.len(), "every group is loaded");
        let mut pending = 0;
        for group in &groups {
            for rule in group["rules"].as_array().unwrap() {
                assert_ne!(rule["health"], "err", "{rule}");
                if rule["health"] == "unknown" && group["interval"].as_f64() == Some(15.0) {
                    pending += 1;
                }
            }
        }
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{pending} rules never evaluated");
        std::thread::sleep(Duration::from_secs(1));
    }
    let objectives = api(
        prometheus.port,
        "/api/v1/query?query=slo%3Aobjective%3Aratio",
    );
    let series = objectives["data"]["result"].as_array().expect("a vector");
    assert_eq!(series.len(), env.slos.services.len() * 2);
    let targets = api(prometheus.port, "/api/v1/targets");
    let jobs: Vec<&str> = targets["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["labels"]["job"].as_str())
        .collect();
    for service in &env.services {
        assert!(jobs.contains(&service.name()), "no job {}", service.name());
    }
}
