//! Delivery: the Argo CD app-of-apps (root, AppProject, one Application per
//! environment), sync waves in the order namespace, configuration, data, migrations,
//! services, mesh, and the hook Jobs around a sync.

use std::path::Path;

use serde_json::Value;

use kubestore_core::model::Environment;
use kubestore_gen::pipeline::render_tree;
use kubestore_gen::render::render_all;

fn environments() -> (Vec<Environment>, std::path::PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments");
    let envs = kubestore_gen::Environments::read(&dir)
        .expect("environments listed")
        .load_all()
        .unwrap_or_else(|e| panic!("{e}"));
    (envs, dir)
}

/// The rendered tree's whole-object files, parsed.
fn tree() -> Vec<(String, Value)> {
    let (envs, dir) = environments();
    render_tree(&envs, &envs, &dir)
        .into_iter()
        .filter(|(p, _)| {
            // The plain Prometheus files and the runbooks are not Kubernetes objects.
            !p.starts_with("prometheus/") && !p.starts_with("slo/") && !p.ends_with(".md")
        })
        .filter(|(p, _)| !p.contains("/patches/") && !p.ends_with("kustomization.yaml"))
        .map(|(p, text)| {
            let value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{p}: {e}"));
            (p, value)
        })
        .collect()
}

fn file(path: &str) -> Value {
    tree()
        .into_iter()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("no {path}"))
        .1
}

fn wave(object: &Value) -> i64 {
    object["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        .as_str()
        .unwrap_or_else(|| panic!("{} has no sync wave", object["metadata"]["name"]))
        .parse()
        .expect("a number")
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn sync_waves_order_namespace_config_data_migrations_services_mesh() {
    let (envs, _) = environments();
    for env in &envs {
        let objects: Vec<Value> = render_all(env).into_iter().map(|o| o.value).collect();
        for o in &objects {
            let hook = &o["metadata"]["annotations"]["argocd.argoproj.io/hook"];
            if hook != "PostSync" {
                wave(o);
            } else {
                assert!(o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"].is_null());
            }
        }
        let namespace = file(&format!(
            "overlays/{}/{}-namespace.yaml",
            env.name, env.namespace
        ));
        let order = [
            wave(&namespace),
            wave(object(&objects, "ConfigMap", "users")),
            wave(object(&objects, "StatefulSet", "mysql")),
            wave(object(&objects, "Job", "users-migrate")),
            wave(object(&objects, "Deployment", "users")),
            wave(object(&objects, "VirtualService", "users")),
        ];
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{}: {order:?}",
            env.name
        );
        // Security policy lands with the configuration, before any pod runs.
        for (kind, name) in [
            ("NetworkPolicy", "default-deny"),
            ("AuthorizationPolicy", "allow-nothing"),
            ("PeerAuthentication", "default"),
        ] {
            assert_eq!(wave(object(&objects, kind, name)), order[1], "{kind}");
        }
        assert_eq!(wave(object(&objects, "Service", "mysql")), order[2]);
        assert_eq!(wave(object(&objects, "Service", "users")), order[4]);
        assert_eq!(wave(object(&objects, "Gateway", "kubestore")), order[5]);
        let secret = file(&format!(
            "overlays/{}/mysql-credentials-{}.yaml",
            env.name,
            match env.name.as_str() {
                "prod" => "externalsecret",
                _ => "sealedsecret",
            }
        ));
        assert_eq!(wave(&secret), order[1]);
    }
}

#[test]
fn each_environment_has_an_application_synced_as_it_asks() {
    let (envs, _) = environments();
    for env in &envs {
        let app = file(&format!("argocd/{}.yaml", env.name));
        assert_eq!(app["kind"], "Application");
        assert_eq!(app["metadata"]["namespace"], "argocd");
        assert_eq!(
            app["metadata"]["finalizers"][0],
            "resources-finalizer.argocd.argoproj.io"
        );
        let spec = &app["spec"];
        assert_eq!(spec["project"], "kubestore");
        assert_eq!(spec["source"]["repoURL"], env.git.repo.as_str());
        assert_eq!(spec["source"]["targetRevision"], env.git.revision.as_str());
        assert_eq!(
            spec["source"]["path"],
            format!("gitops/overlays/{}", env.name)
        );
        assert_eq!(spec["destination"]["namespace"], env.namespace.as_str());
        assert_eq!(spec["destination"]["server"], env.cluster.as_str());
        let automated = &spec["syncPolicy"]["automated"];
        if env.automated_sync {
            assert_eq!(
                automated,
                &serde_json::json!({"prune": true, "selfHeal": true})
            );
        } else {
            assert!(automated.is_null(), "{} syncs by hand", env.name);
        }
        assert_eq!(
            spec["syncPolicy"]["syncOptions"],
            serde_json::json!([
                "CreateNamespace=true",
                "ServerSideApply=true",
                "RespectIgnoreDifferences=true",
                "PruneLast=true"
            ])
        );
        assert!(spec["syncPolicy"]["retry"]["backoff"]["duration"].is_string());
        // Exactly the Deployments an autoscaler owns have their replicas ignored.
        let ignored: Vec<&str> = spec["ignoreDifferences"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d["name"].as_str()).collect())
            .unwrap_or_default();
        let autoscaled: Vec<&str> = env
            .services
            .iter()
            .filter(|s| s.replicas.autoscaled())
            .map(|s| s.name())
            .collect();
        assert_eq!(ignored, autoscaled, "{}", env.name);
    }
    let prod = file("argocd/prod.yaml");
    assert!(
        prod["spec"]["syncPolicy"]["automated"].is_null(),
        "prod is synced by hand"
    );
}

#[test]
fn the_project_allows_only_the_store_namespaces_and_the_namespace_kind() {
    let (envs, _) = environments();
    let project = file("argocd/project.yaml");
    assert_eq!(project["kind"], "AppProject");
    let spec = &project["spec"];
    let namespaces: Vec<&str> = spec["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["namespace"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = envs.iter().map(|e| e.namespace.as_str()).collect();
    expected.sort();
    assert_eq!(namespaces, expected);
    assert_eq!(
        spec["sourceRepos"],
        serde_json::json!(["https://github.com/example/kubestore.git"])
    );
    assert_eq!(
        spec["clusterResourceWhitelist"],
        serde_json::json!([{"group": "", "kind": "Namespace"}])
    );
    let root = file("argocd/root.yaml");
    assert_eq!(root["spec"]["source"]["path"], "gitops/argocd");
    assert_eq!(root["spec"]["destination"]["namespace"], "argocd");
    assert!(
        root["metadata"]["finalizers"].is_null(),
        "deleting the root keeps the environments"
    );
}

#[test]
fn migrations_run_the_service_image_without_a_sidecar_and_may_reach_mysql() {
    let (envs, _) = environments();
    let prod = envs.iter().find(|e| e.name == "prod").unwrap();
    let objects: Vec<Value> = render_all(prod).into_iter().map(|o| o.value).collect();
    let jobs: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "Job").collect();
    let names: Vec<&str> = jobs
        .iter()
        .filter_map(|j| j["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "orders-migrate",
            "products-migrate",
            "slo-check",
            "users-migrate"
        ]
    );
    for service in ["users", "products", "orders"] {
        let job = object(&objects, "Job", &format!("{service}-migrate"));
        let deployment = object(&objects, "Deployment", service);
        let annotations = &job["metadata"]["annotations"];
        assert_eq!(annotations["argocd.argoproj.io/hook"], "Sync");
        assert_eq!(
            annotations["argocd.argoproj.io/hook-delete-policy"],
            "BeforeHookCreation,HookSucceeded"
        );
        assert!(job["spec"]["backoffLimit"].is_u64());
        assert!(job["spec"]["activeDeadlineSeconds"].is_u64());
        let pod = &job["spec"]["template"];
        assert_eq!(
            pod["metadata"]["annotations"]["sidecar.istio.io/inject"],
            "false"
        );
        assert_eq!(
            pod["metadata"]["labels"]["kubestore.dev/mysql-client"],
            "true"
        );
        // Not selected by the service's Service: a Job pod must never receive traffic.
        assert_ne!(pod["metadata"]["labels"]["app.kubernetes.io/name"], service);
        let container = &pod["spec"]["containers"][0];
        let served = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["args"], serde_json::json!(["migrate"]));
        for field in ["image", "env", "envFrom", "securityContext"] {
            assert_eq!(container[field], served[field], "{service}: {field}");
        }
        assert_eq!(
            pod["spec"]["securityContext"],
            deployment["spec"]["template"]["spec"]["securityContext"]
        );
    }
    let policy = object(&objects, "NetworkPolicy", "migrations");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "migration"
    );
    assert_eq!(policy["spec"]["egress"][0]["ports"][0]["port"], 3306);
}

#[test]
fn the_slo_check_runs_after_each_sync_against_prometheus() {
    let (envs, _) = environments();
    for env in &envs {
        let objects: Vec<Value> = render_all(env).into_iter().map(|o| o.value).collect();
        let job = object(&objects, "Job", "slo-check");
        assert_eq!(
            job["metadata"]["annotations"]["argocd.argoproj.io/hook"],
            "PostSync"
        );
        let pod = &job["spec"]["template"];
        assert_eq!(
            pod["metadata"]["annotations"]["sidecar.istio.io/inject"],
            "false"
        );
        let container = &pod["spec"]["containers"][0];
        let image = &env.slo_check_image;
        let expected = match &image.digest {
            Some(digest) => format!("{}:{}@{digest}", image.repository, image.tag),
            None => format!("{}:{}", image.repository, image.tag),
        };
        assert_eq!(container["image"], expected);
        assert!(image.repository.ends_with("/slo-check"));
        if env.name == "prod" {
            assert!(expected.contains("@sha256:"), "prod pins {expected}");
        }
        let window = env.slos.post_sync_check.window;
        assert_eq!(
            container["args"],
            serde_json::json!([
                "--slos",
                "/etc/slo-check/slos",
                "--prometheus",
                env.monitoring.prometheus_url,
                "--soak",
                window.to_string(),
                "--termination-log",
                "/dev/termination-log"
            ])
        );
        assert!(
            job["spec"]["activeDeadlineSeconds"].as_i64().unwrap()
                > i64::try_from(window.seconds_ceil()).unwrap(),
            "the deadline is above the soak"
        );
        assert_eq!(
            container["terminationMessagePolicy"],
            "FallbackToLogsOnError"
        );
        let rules = &job["spec"]["podFailurePolicy"]["rules"];
        assert_eq!(rules[0]["action"], "FailJob");
        assert_eq!(
            rules[0]["onExitCodes"]["values"],
            serde_json::json!([1, 2, 4])
        );
        assert_eq!(rules[1]["action"], "Count");
        assert_eq!(rules[1]["onExitCodes"]["values"], serde_json::json!([3]));
        // The ConfigMap it mounts holds one OpenSLO document per SLO of the environment.
        let slos = object(&objects, "ConfigMap", "slo-check");
        let expected: usize = env.slos.services.iter().map(|s| s.slos.len()).sum();
        assert_eq!(slos["data"].as_object().unwrap().len(), expected);
        assert_eq!(
            pod["spec"]["volumes"][0]["configMap"]["name"], "slo-check",
            "the Job mounts its definitions"
        );
        let policy = object(&objects, "NetworkPolicy", "slo-check");
        let egress = &policy["spec"]["egress"][0];
        assert_eq!(
            egress["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            env.monitoring.namespace.as_str()
        );
        assert_eq!(egress["ports"][0]["port"], 9090);
        assert_eq!(
            egress["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"], "prometheus",
            "Prometheus and nothing else"
        );
    }
}

/// `kubectl kustomize` of an overlay of a freshly rendered tree, parsed.
fn built(out: &Path, env: &str) -> Vec<Value> {
    let run = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(out.join("overlays").join(env))
        .output()
        .expect("kubectl is installed");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8_lossy(&run.stdout)
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d).expect("kustomize output parses"))
        .collect()
}

#[test]
fn kustomize_builds_the_mesh_hooks_and_credentials_of_every_environment() {
    let (envs, dir) = environments();
    let out = tempfile::tempdir().unwrap();
    let tree = render_tree(&envs, &envs, &dir);
    kubestore_gen::output::write_tree(out.path(), &tree).expect("tree written");
    for env in &envs {
        let docs = built(out.path(), &env.name);
        let count = |kind: &str| docs.iter().filter(|d| d["kind"] == kind).count();
        assert_eq!(count("VirtualService"), 6, "{}", env.name);
        assert_eq!(count("DestinationRule"), 5, "{}", env.name);
        assert_eq!(count("Gateway"), 1, "{}", env.name);
        assert_eq!(count("Job"), 4, "{}", env.name);
        let credentials = if env.name == "prod" {
            "ExternalSecret"
        } else {
            "SealedSecret"
        };
        assert_eq!(count(credentials), 2, "{}", env.name);
        for d in &docs {
            if d["kind"] != "Namespace" {
                assert_eq!(d["metadata"]["namespace"], env.namespace.as_str());
            }
        }
        // The overlay's patches reach the mesh: principals name the environment's namespace.
        let users = docs
            .iter()
            .find(|d| d["kind"] == "AuthorizationPolicy" && d["metadata"]["name"] == "users")
            .unwrap();
        let principals = &users["spec"]["rules"][0]["from"][0]["source"]["principals"];
        let expected = serde_json::json!(
            kubestore_core::catalog::callers("users")
                .map(|c| format!("cluster.local/ns/{}/sa/{}", env.namespace, c.name))
                .collect::<Vec<_>>()
        );
        assert_eq!(principals, &expected);
        let chaos = docs
            .iter()
            .filter(|d| d["kind"] == "VirtualService")
            .flat_map(|d| d["spec"]["http"].as_array().unwrap().iter())
            .filter(|r| !r["fault"].is_null())
            .count();
        assert_eq!(chaos, env.experiments.len(), "{}", env.name);
    }
}

/// dev's environment file with `monitoring` set as `yaml` says.
fn dev_with_monitoring(yaml: &str) -> Environment {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments/dev.yaml");
    let source = std::fs::read_to_string(&path).unwrap() + "monitoring:\n" + yaml;
    let loaded = kubestore_core::spec::load_str(&path, &source).unwrap_or_else(|e| panic!("{e}"));
    Environment::from_loaded(&loaded).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_slo_checks_egress_follows_its_prometheus_url() {
    // Moving the monitoring namespace moves the default URL, and the policy with it.
    let env = dev_with_monitoring("  namespace: observability\n");
    let objects: Vec<Value> = render_all(&env).into_iter().map(|o| o.value).collect();
    let container =
        &object(&objects, "Job", "slo-check")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["args"][3],
        "http://prometheus-operated.observability.svc:9090"
    );
    let egress = &object(&objects, "NetworkPolicy", "slo-check")["spec"]["egress"];
    assert_eq!(
        egress,
        &serde_json::json!([{
            "ports": [{"port": 9090, "protocol": "TCP"}],
            "to": [{
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
            }],
        }])
    );

    // Another Prometheus-compatible API: its namespace and port; its pods' labels are
    // unknown, so the whole namespace on that port.
    let url = "https://vmselect.metrics.svc.cluster.local:8481/select/0/prometheus";
    let env = dev_with_monitoring(&format!("  prometheus_url: {url}\n"));
    let objects: Vec<Value> = render_all(&env).into_iter().map(|o| o.value).collect();
    let container =
        &object(&objects, "Job", "slo-check")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["args"][3], url);
    let egress = &object(&objects, "NetworkPolicy", "slo-check")["spec"]["egress"];
    assert_eq!(
        egress,
        &serde_json::json!([{
            "ports": [{"port": 8481, "protocol": "TCP"}],
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "metrics"}}}],
        }])
    );
}
