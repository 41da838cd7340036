//! The one-machine Envoy configurations: every file we write loads in the real Envoy
//! (`--mode validate`), names clusters and stats as Istio does, translates the resilience
//! policy as istiod would, and keeps exactly the statistics the dashboards and alerts read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use kubestore_core::catalog;
use kubestore_core::model::Environment;
use kubestore_gen::envoy::ports::{LocalPorts, REPLICAS};
use kubestore_gen::envoy::stats::MESH_STATS;
use kubestore_gen::envoy::{self, EnvoyConfig};
use kubestore_gen::render;
use kubestore_gen::render::dashboards::dashboards;

fn environments() -> Vec<Environment> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments");
    kubestore_gen::Environments::read(&dir)
        .expect("environments listed")
        .load_all()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn env_named(name: &str) -> Environment {
    environments()
        .into_iter()
        .find(|e| e.name == name)
        .expect("environment")
}

fn envoy_binary() -> PathBuf {
    let tools =
        std::env::var_os("KUBESTORE_TOOLS").unwrap_or_else(|| "/opt/kubestore-tools".into());
    let path = Path::new(&tools).join("bin/envoy");
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-test-deps.sh",
        path.display()
    );
    path
}

fn config<'a>(configs: &'a [EnvoyConfig], file: &str) -> &'a Value {
    &configs
        .iter()
        .find(|c| c.file == file)
        .unwrap_or_else(|| panic!("no {file}"))
        .bootstrap
}

fn clusters(bootstrap: &Value) -> &Vec<Value> {
    bootstrap["static_resources"]["clusters"]
        .as_array()
        .expect("clusters")
}

fn cluster<'a>(bootstrap: &'a Value, name: &str) -> &'a Value {
    clusters(bootstrap)
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no cluster {name}"))
}

/// The routes of the outbound listener for calls on `port`.
fn routes_to(bootstrap: &Value, port: u16) -> Vec<Value> {
    let listener = bootstrap["static_resources"]["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .find(|l| l["name"] == format!("0.0.0.0_{port}"))
        .unwrap_or_else(|| panic!("no listener for {port}"));
    listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]
        ["routes"]
        .as_array()
        .expect("routes")
        .clone()
}

#[test]
fn every_configuration_we_write_passes_envoy_validate() {
    let envoy = envoy_binary();
    for env in environments() {
        let dir = tempfile::tempdir().expect("temp dir");
        let written = kubestore_gen::write_envoy_configs(&env, LocalPorts::default(), dir.path())
            .expect("written");
        assert_eq!(
            written.len(),
            env.services.len() * usize::from(REPLICAS) + 1
        );
        for path in written {
            let out = Command::new(&envoy)
                .args([
                    "--mode",
                    "validate",
                    "--disable-hot-restart",
                    "-l",
                    "error",
                    "-c",
                ])
                .arg(&path)
                .output()
                .expect("envoy runs");
            assert!(
                out.status.success(),
                "{} ({}) fails validation:\n{}{}",
                path.display(),
                env.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn clusters_carry_istio_names_circuit_breakers_and_outlier_detection() {
    let env = env_named("dev");
    let configs = envoy::render_local(&env, LocalPorts::default());
    let orders = config(&configs, "orders-0.yaml");
    let name = "outbound|8082||products.kubestore-dev.svc.cluster.local";
    let products = cluster(orders, name);
    assert_eq!(products["alt_stat_name"], format!("{name};"));
    assert_eq!(products["lb_policy"], "LEAST_REQUEST");
    let r = &env.service("products").expect("products").resilience;
    let t = &products["circuit_breakers"]["thresholds"][0];
    assert_eq!(t["max_connections"], r.max_connections);
    assert_eq!(t["max_pending_requests"], r.max_pending);
    assert_eq!(t["max_retries"], 4_294_967_295u64);
    let o = &products["outlier_detection"];
    assert_eq!(o["consecutive_5xx"], r.consecutive_5xx);
    assert_eq!(o["enforcing_success_rate"], 0);
    assert_eq!(
        products["common_lb_config"]["healthy_panic_threshold"]["value"],
        0
    );
    // Both replicas' sidecars, never the apps directly.
    let ports = LocalPorts::default();
    let def = catalog::service("products").expect("products");
    let endpoints: Vec<u64> = products["load_assignment"]["endpoints"][0]["lb_endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| {
            e["endpoint"]["address"]["socket_address"]["port_value"]
                .as_u64()
                .expect("port")
        })
        .collect();
    assert_eq!(
        endpoints,
        (0..REPLICAS)
            .map(|r| u64::from(ports.inbound(def, r)))
            .collect::<Vec<_>>()
    );
    // The server side applies the same connection pool to its own app.
    let inbound = cluster(config(&configs, "products-1.yaml"), "inbound|8082||");
    assert_eq!(
        inbound["circuit_breakers"]["thresholds"][0]["max_connections"],
        r.max_connections
    );
}

#[test]
fn routes_follow_the_virtual_service() {
    let env = env_named("dev");
    let configs = envoy::render_local(&env, LocalPorts::default());
    let cart = config(&configs, "cart-0.yaml");
    let routes = routes_to(cart, 8083);
    let post = routes
        .iter()
        .find(|r| r["name"] == "post-v1-orders")
        .expect("the unkeyed POST");
    assert!(
        post["route"].get("retry_policy").is_none(),
        "a POST without an idempotency key is never retried"
    );
    let keyed = routes
        .iter()
        .find(|r| r["name"] == "post-v1-orders-keyed")
        .expect("the keyed POST");
    assert_eq!(keyed["match"]["headers"][1]["name"], "idempotency-key");
    assert_eq!(keyed["match"]["headers"][1]["present_match"], true);
    let policy = &keyed["route"]["retry_policy"];
    assert_eq!(
        policy["retry_host_predicate"][0]["name"],
        "envoy.retry_host_predicates.previous_hosts"
    );
    assert_eq!(policy["per_try_timeout"], "0.500s");
    assert_eq!(routes.last().expect("a catch-all")["name"], "default");
    assert_eq!(routes.last().expect("a catch-all")["match"]["prefix"], "/");
}

#[test]
fn chaos_experiments_become_fault_filters_without_timeout_or_retries() {
    let env = env_named("staging");
    let configs = envoy::render_local(&env, LocalPorts::default());
    let frontend = config(&configs, "frontend-0.yaml");
    let chaos = &routes_to(frontend, 8082)[0];
    assert_eq!(chaos["name"], "chaos-slow-catalogue");
    assert_eq!(chaos["match"]["prefix"], "/v1/products");
    assert_eq!(
        chaos["route"]["timeout"], "0s",
        "Istio writes 0s for an unset timeout"
    );
    assert!(chaos["route"].get("retry_policy").is_none());
    let fault = &chaos["typed_per_filter_config"]["envoy.filters.http.fault"];
    assert_eq!(fault["delay"]["fixed_delay"], "2s");
    assert_eq!(fault["delay"]["percentage"]["numerator"], 100_000);
    assert_eq!(fault["delay"]["percentage"]["denominator"], "MILLION");
    let flaky = &routes_to(config(&configs, "orders-1.yaml"), 8081)[0];
    assert_eq!(
        flaky["typed_per_filter_config"]["envoy.filters.http.fault"]["abort"]["http_status"],
        503
    );
}

/// Every `envoy_*` series the rendered dashboards and rules read.
fn envoy_series_read(env: &Environment) -> BTreeSet<String> {
    let mut text = String::new();
    for d in dashboards(env).expect("dashboards render") {
        text.push_str(&d.json.to_string());
    }
    text.push_str(&render::slo_rules::rules_file(env).to_string());
    let mut out = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("envoy_") {
        let name: String = rest[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.insert(name);
        rest = &rest[i + 6..];
    }
    out
}

#[test]
fn the_stats_inclusions_are_exactly_what_dashboards_and_alerts_read() {
    for env in environments() {
        let wanted: BTreeSet<String> = MESH_STATS.iter().map(|s| s.series.to_owned()).collect();
        assert_eq!(envoy_series_read(&env), wanted, "{}", env.name);
    }
    // The pods ask Istio for the same list.
    let env = env_named("prod");
    let deployment = render::render_all(&env)
        .into_iter()
        .find(|o| o.file == "products-deployment")
        .expect("a Deployment");
    let annotation =
        deployment.value["spec"]["template"]["metadata"]["annotations"]["proxy.istio.io/config"]
            .as_str()
            .expect("the ProxyConfig annotation");
    let config: Value = serde_json::from_str(annotation).expect("JSON");
    let suffixes: Vec<&str> = config["proxyStatsMatcher"]["inclusionSuffixes"]
        .as_array()
        .expect("suffixes")
        .iter()
        .map(|v| v.as_str().expect("a string"))
        .collect();
    assert_eq!(
        suffixes,
        MESH_STATS.iter().map(|s| s.suffix).collect::<Vec<_>>()
    );
}

/// A port plan whose orders sidecar (replica 0) finds its ten ports free. The plans sit
/// below the kernel's ephemeral range (32768 and up on Linux), so that no outgoing
/// connection of a parallel test can hold one of their ports, and clear of the stack's
/// own plans at 20000 and 24000. Envoy exits at once when a listener cannot bind.
fn free_ports() -> LocalPorts {
    let orders = catalog::service("orders").expect("orders");
    let first = std::process::id() % 10;
    (0..10)
        .map(|k| LocalPorts {
            base: 10000 + ((first + k) % 10) as u16 * 1000,
        })
        .find(|plan| {
            let start = plan.app(orders, 0);
            (start..start + 10).all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        })
        .expect("a free port plan between 10000 and 19999")
}

#[test]
fn a_running_sidecar_exports_istio_style_cluster_stats() {
    let env = env_named("dev");
    let ports = free_ports();
    let dir = tempfile::tempdir().expect("temp dir");
    kubestore_gen::write_envoy_configs(&env, ports, dir.path()).expect("written");
    let log_path = dir.path().join("envoy.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(envoy_binary())
        .args([
            "--disable-hot-restart",
            "--concurrency",
            "1",
            "-l",
            "warning",
            "-c",
        ])
        .arg(dir.path().join("orders-0.yaml"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("envoy starts");
    let admin = ports.sidecar_admin(catalog::service("orders").expect("orders"), 0);
    let envoy_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    let stats = loop {
        if let Ok(text) = http_get(admin, "/stats/prometheus") {
            break text;
        }
        if let Some(status) = child.try_wait().expect("envoy's status") {
            panic!(
                "envoy exited ({status}) before its admin answered:\n{}",
                envoy_log()
            );
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "envoy's admin on port {admin} never answered:\n{}",
                envoy_log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    child.kill().expect("stopped");
    child.wait().expect("reaped");
    assert!(
        stats.contains(
            r#"envoy_cluster_upstream_rq_retry{cluster_name="outbound|8082||products.kubestore-dev.svc.cluster.local"}"#
        ),
        "{stats}"
    );
    assert!(stats.contains("envoy_cluster_outlier_detection_ejections_active{cluster_name=\"outbound|8081||users.kubestore-dev.svc.cluster.local\"}"));
    // Every statistic the dashboards read exists, at zero, before any request: a panel
    // over it shows a 0 line, not "No data". Per-code counters come with the first answer.
    for stat in MESH_STATS.iter().filter(|s| !s.on_first_use) {
        assert!(
            stats
                .lines()
                .any(|l| l.starts_with(&format!("{}{{", stat.series))),
            "no {} series (from {}):\n{stats}",
            stat.series,
            stat.suffix
        );
    }
    assert!(
        stats.contains(
            r#"envoy_http_fault_aborts_injected{http_conn_manager_prefix="outbound_0.0.0.0_8082"}"#
        ),
        "{stats}"
    );
    // Statistics outside the inclusion list stay out, as in the mesh.
    assert!(
        !stats.contains("envoy_cluster_upstream_cx_total"),
        "{stats}"
    );
}

/// A bare HTTP/1.1 GET on 127.0.0.1, body only.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    match text.split_once("\r\n\r\n") {
        Some((head, body))
            if head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200") =>
        {
            Ok(body.to_owned())
        }
        _ => Err(std::io::Error::other("not a 200")),
    }
}
