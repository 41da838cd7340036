//! The CLI end to end: the committed tree and the dashboards beside it are exactly what
//! the generator renders (the golden files), renders are byte-for-byte repeatable, a
//! failing render leaves both untouched, `render --check` finds stale, missing and extra
//! files in both, and Kustomize builds every environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kubestore_gen::output::{Tree, read_tree};
use kubestore_gen::tree::{DASHBOARDS, DASHBOARDS_SOURCES};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

fn gen_cmd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubestore-gen"))
        .current_dir(repo())
        .args(args)
        .output()
        .expect("kubestore-gen runs")
}

fn render_into(out: &Path, envs_dir: &str) -> Output {
    gen_cmd(&[
        "--environments",
        envs_dir,
        "render",
        "--all",
        "--out",
        out.to_str().unwrap(),
    ])
}

/// The rendered part of a dashboards folder: everything but its hand-written sources.
fn rendered_dashboards(dir: &Path) -> Tree {
    read_tree(dir)
        .unwrap()
        .into_iter()
        .filter(|(path, _)| !DASHBOARDS_SOURCES.iter().any(|s| path.starts_with(s)))
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_committed_tree_is_what_the_generator_renders() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gitops");
    let run = render_into(&out, "environments");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let fresh = read_tree(&out).unwrap();
    let committed = read_tree(&repo().join("gitops")).unwrap();
    let fresh_paths: Vec<_> = fresh.keys().collect();
    let committed_paths: Vec<_> = committed.keys().collect();
    assert_eq!(
        fresh_paths, committed_paths,
        "run `kubestore-gen render --all` and commit gitops/"
    );
    for (path, content) in &fresh {
        assert_eq!(
            content, &committed[path],
            "gitops/{path} is stale: re-render and commit"
        );
    }
    // The dashboards to import, beside it.
    let fresh = rendered_dashboards(&dir.path().join(DASHBOARDS));
    let committed = rendered_dashboards(&repo().join(DASHBOARDS));
    assert!(fresh.keys().any(|p| p.starts_with("prod/")), "{fresh:?}");
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "run `kubestore-gen render --all` and commit dashboards/"
    );
    for (path, content) in &fresh {
        assert_eq!(
            content, &committed[path],
            "dashboards/{path} is stale: re-render and commit"
        );
    }
}

/// The files under `dashboards/<env>/` are the JSON the environment's ConfigMaps carry,
/// one per dashboard, and a render keeps the folder's hand-written files while it prunes
/// the dashboards of an environment that is gone.
#[test]
fn dashboards_to_import_are_the_configmaps_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gitops");
    let dashboards = dir.path().join(DASHBOARDS);
    std::fs::create_dir_all(dashboards.join("templates")).unwrap();
    std::fs::write(dashboards.join("templates/kept.json.j2"), "{}\n").unwrap();
    std::fs::write(dashboards.join("README.md"), "# kept\n").unwrap();
    std::fs::create_dir_all(dashboards.join("gone")).unwrap();
    std::fs::write(dashboards.join("gone/overview.json"), "{}\n").unwrap();
    assert!(render_into(&out, "environments").status.success());
    let files = read_tree(&dashboards).unwrap();
    assert_eq!(files["templates/kept.json.j2"], "{}\n");
    assert_eq!(files["README.md"], "# kept\n");
    assert!(!files.contains_key("gone/overview.json"), "not pruned");
    let gitops = read_tree(&out).unwrap();
    for env in ["dev", "staging", "prod"] {
        let maps: Vec<_> = gitops
            .iter()
            .filter(|(p, _)| {
                p.starts_with(&format!("overlays/{env}/dashboard-"))
                    && p.ends_with("configmap.yaml")
            })
            .collect();
        assert!(!maps.is_empty(), "{env}");
        let mine: Vec<_> = files
            .keys()
            .filter(|p| p.starts_with(&format!("{env}/")))
            .collect();
        assert_eq!(mine.len(), maps.len(), "{env}: {mine:?}");
        for (path, yaml) in maps {
            let map: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
            let slug = path
                .trim_start_matches(&format!("overlays/{env}/dashboard-"))
                .trim_end_matches("-configmap.yaml");
            let (_, json) = map["data"].as_object().unwrap().iter().next().unwrap();
            assert_eq!(
                json.as_str().unwrap(),
                files[&format!("{env}/{slug}.json")],
                "{env}/{slug}"
            );
        }
    }
}

#[test]
fn rendering_twice_gives_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(render_into(&a, "environments").status.success());
    let dashboards = dir.path().join(DASHBOARDS);
    let first = read_tree(&dashboards).unwrap();
    assert!(render_into(&b, "environments").status.success());
    assert_eq!(read_tree(&a).unwrap(), read_tree(&b).unwrap());
    assert_eq!(read_tree(&dashboards).unwrap(), first);
    // No timestamps or versions sneak in: every file starts with the same fixed header.
    for (path, content) in read_tree(&a).unwrap() {
        assert!(
            content.starts_with("# Generated by kubestore-gen from ")
                || content.starts_with("<!-- Generated by kubestore-gen from "),
            "{path}"
        );
    }
}

/// Copies the repository's environments plus `extra` files into a scratch folder.
fn scratch_environments(root: &Path, extra: &[(&str, &str)]) -> PathBuf {
    let envs = root.join("environments");
    std::fs::create_dir_all(&envs).unwrap();
    for entry in std::fs::read_dir(repo().join("environments")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, envs.join(path.file_name().unwrap())).unwrap();
    }
    for (name, content) in extra {
        std::fs::write(envs.join(name), content).unwrap();
    }
    envs
}

#[test]
fn a_failing_render_leaves_the_existing_tree_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gitops");
    assert!(render_into(&out, "environments").status.success());
    std::fs::write(out.join("base/hand-edit.yaml"), "kept: true\n").unwrap();
    let before = read_tree(&out).unwrap();
    let dashboards = dir.path().join(DASHBOARDS);
    std::fs::write(dashboards.join("dev/overview.json"), "{}\n").unwrap();
    let dashboards_before = read_tree(&dashboards).unwrap();

    let envs = scratch_environments(
        dir.path(),
        &[("broken.yaml", "name: broken\nnamespace: Bad_NS\n")],
    );
    let run = render_into(&out, envs.to_str().unwrap());
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    assert!(
        text(&run.stderr).contains("broken.yaml:2:"),
        "{}",
        text(&run.stderr)
    );
    assert_eq!(
        read_tree(&out).unwrap(),
        before,
        "nothing may change on a failed render"
    );
    assert_eq!(read_tree(&dashboards).unwrap(), dashboards_before);
    // Nothing half-written is left next to the tree either.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn rendering_one_environment_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gitops");
    assert!(render_into(&out, "environments").status.success());
    let before = read_tree(&out).unwrap();
    let dashboards = dir.path().join(DASHBOARDS);
    let dashboards_before = read_tree(&dashboards).unwrap();
    let run = gen_cmd(&["render", "prod", "--out", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(read_tree(&out).unwrap(), before);
    assert_eq!(read_tree(&dashboards).unwrap(), dashboards_before);
}

#[test]
fn check_lists_stale_missing_and_extra_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gitops");
    assert!(render_into(&out, "environments").status.success());
    let out_arg = out.to_str().unwrap();
    let ok = gen_cmd(&["render", "--all", "--check", "--out", out_arg]);
    assert!(ok.status.success(), "{}", text(&ok.stdout));

    std::fs::write(out.join("base/users-deployment.yaml"), "edited: by hand\n").unwrap();
    std::fs::remove_file(out.join("base/cart-service.yaml")).unwrap();
    std::fs::write(out.join("overlays/prod/leftover.yaml"), "old: file\n").unwrap();
    let dashboards = dir.path().join(DASHBOARDS);
    std::fs::write(dashboards.join("prod/overview.json"), "{}\n").unwrap();
    std::fs::remove_file(dashboards.join("dev/slo.json")).unwrap();
    std::fs::write(dashboards.join("dev/leftover.json"), "{}\n").unwrap();
    // Hand-written files of the dashboards folder are no difference.
    std::fs::write(dashboards.join("README.md"), "# how to import\n").unwrap();
    let stale = gen_cmd(&["render", "--all", "--check", "--out", out_arg]);
    assert_eq!(stale.status.code(), Some(1));
    let report = text(&stale.stdout);
    assert!(
        report.contains("stale    base/users-deployment.yaml"),
        "{report}"
    );
    assert!(
        report.contains("missing  base/cart-service.yaml"),
        "{report}"
    );
    assert!(
        report.contains("extra    overlays/prod/leftover.yaml"),
        "{report}"
    );
    for line in [
        "stale    dashboards/prod/overview.json",
        "missing  dashboards/dev/slo.json",
        "extra    dashboards/dev/leftover.json",
    ] {
        assert!(report.contains(line), "{report}");
    }
    assert!(!report.contains("README"), "{report}");

    let json = gen_cmd(&[
        "render", "--all", "--check", "--format", "json", "--out", out_arg,
    ]);
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json report");
    assert_eq!(parsed["up_to_date"], false);
    assert_eq!(parsed["differences"].as_array().unwrap().len(), 6);
}

#[test]
fn usage_errors_exit_2() {
    let run = gen_cmd(&["render", "nowhere"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run.stderr).contains("no environment `nowhere`"),
        "{}",
        text(&run.stderr)
    );
    let run = gen_cmd(&["render"]);
    assert_eq!(run.status.code(), Some(2));
}

#[test]
fn explain_prints_the_effective_configuration() {
    let run = gen_cmd(&["explain", "dev", "--format", "json"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let env: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(env["namespace"], "kubestore-dev");
    // Values the file does not set show their defaults.
    assert_eq!(env["services"][0]["drain"], "5s");
    assert_eq!(env["services"][0]["replicas"]["min"], 1);
}

#[test]
fn validate_reports_json() {
    let run = gen_cmd(&["validate", "--all", "--format", "json"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(
        report
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["valid"] == true)
    );
}

fn kustomize(dir: &Path) -> String {
    let run = Command::new("kubectl")
        .args(["kustomize", dir.to_str().unwrap()])
        .output()
        .expect("kubectl is installed");
    assert!(
        run.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        text(&run.stderr)
    );
    text(&run.stdout)
}

#[test]
fn kustomize_builds_every_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gitops");
    assert!(render_into(&out, "environments").status.success());
    for env in ["dev", "staging", "prod"] {
        let built = kustomize(&out.join("overlays").join(env));
        let docs: Vec<serde_json::Value> = built
            .split("\n---\n")
            .map(|d| serde_saphyr::from_str(d).expect("kustomize output parses"))
            .collect();
        let of_kind = |kind: &'static str| docs.iter().filter(move |d| d["kind"] == kind);
        assert_eq!(of_kind("Deployment").count(), 5, "{env}");
        assert_eq!(of_kind("StatefulSet").count(), 2, "{env}");
        for d in &docs {
            let ns = &d["metadata"]["namespace"];
            if d["kind"] != "Namespace" {
                assert_eq!(
                    ns,
                    &format!("kubestore-{env}"),
                    "{env}: {}",
                    d["metadata"]["name"]
                );
            }
        }
        for deployment in of_kind("Deployment") {
            let name = deployment["metadata"]["name"].as_str().unwrap();
            let has_hpa = of_kind("HorizontalPodAutoscaler").any(|h| h["metadata"]["name"] == name);
            // Exactly one owner of the replica count.
            assert_eq!(
                deployment["spec"]["replicas"].is_null(),
                has_hpa,
                "{env}/{name}"
            );
            let image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap();
            assert!(image.starts_with("ghcr.io/example/kubestore/"), "{image}");
            if env == "prod" {
                assert!(image.contains("@sha256:"), "prod pins {image}");
            }
        }
        assert_eq!(
            of_kind("HorizontalPodAutoscaler").count(),
            if env == "dev" { 0 } else { 5 }
        );
    }
}

#[test]
fn every_rendered_file_parses_back_and_names_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gitops");
    assert!(render_into(&out, "environments").status.success());
    for (path, content) in read_tree(&out).unwrap() {
        if !path.ends_with(".yaml") {
            continue;
        }
        let value: serde_json::Value = serde_saphyr::from_str(&content)
            .unwrap_or_else(|e| panic!("{path} does not parse back: {e}"));
        if let Some(name) = value.pointer("/metadata/name").and_then(|n| n.as_str()) {
            assert!(
                kubestore_core::model::dns::is_subdomain(name),
                "{path}: `{name}` is not a valid object name"
            );
        }
    }
}

#[test]
fn every_command_documents_its_exit_codes() {
    for command in [
        &["--help"][..],
        &["render", "--help"],
        &["validate", "--help"],
        &["explain", "--help"],
    ] {
        let run = gen_cmd(command);
        assert!(run.status.success());
        let help = text(&run.stdout);
        assert!(
            help.contains("Exit codes:") && help.contains("2  usage error"),
            "{command:?}:\n{help}"
        );
    }
}

/// A render of one environment replaces and prunes only what that environment owns, so
/// every file it writes outside the shared `base/` and `argocd/` must lie in a place
/// `tree::EnvTree::owned` lists: a new folder left out there would never be pruned.
#[test]
fn every_file_of_an_environment_lies_in_a_place_it_owns() {
    use kubestore_gen::tree::{self, EnvTree, Root};
    let dir = repo().join("environments");
    let everyone = kubestore_gen::Environments::read(&dir)
        .unwrap()
        .load_all()
        .unwrap();
    for env in &everyone {
        let dashboards = EnvTree::of(env).owned(Root::Dashboards);
        for path in
            kubestore_gen::pipeline::render_dashboard_files(std::slice::from_ref(env)).keys()
        {
            assert!(
                dashboards
                    .iter()
                    .any(|place| path.starts_with(place.as_str())),
                "{}: dashboards/{path} lies outside {dashboards:?}",
                env.name
            );
        }
        let owned = EnvTree::of(env).owned(Root::Gitops);
        let rendered =
            kubestore_gen::pipeline::render_tree(std::slice::from_ref(env), &everyone, &dir);
        for path in rendered.keys() {
            let shared = [tree::BASE, tree::ARGOCD]
                .iter()
                .any(|folder| path.starts_with(&format!("{folder}/")));
            assert!(
                shared || owned.iter().any(|place| path.starts_with(place.as_str())),
                "{}: {path} lies outside {owned:?}",
                env.name
            );
        }
        // No other environment claims any of it.
        for other in everyone.iter().filter(|o| o.name != env.name) {
            for place in EnvTree::of(other).owned(Root::Gitops) {
                assert!(
                    !owned
                        .iter()
                        .any(|mine| mine.starts_with(&place) || place.starts_with(mine.as_str())),
                    "{} and {} both own {place}",
                    env.name,
                    other.name
                );
            }
        }
    }
}

/// An environment named like a hand-written entry of `dashboards/` would have its
/// dashboards written over the templates: the render refuses it and writes nothing.
#[test]
fn an_environment_named_templates_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dev = std::fs::read_to_string(repo().join("environments/dev.yaml")).unwrap();
    let clash = dev
        .replace("name: dev", "name: templates")
        .replace("kubestore-dev", "kubestore-templates")
        .replace("shop.dev.example.com", "shop.templates.example.com");
    let envs = scratch_environments(dir.path(), &[("templates.yaml", &clash)]);
    let out = dir.path().join("gitops");
    let run = render_into(&out, envs.to_str().unwrap());
    assert_eq!(run.status.code(), Some(2), "{}", text(&run.stderr));
    assert!(
        text(&run.stderr).contains("environment `templates`"),
        "{}",
        text(&run.stderr)
    );
    assert!(!out.exists() && !dir.path().join(DASHBOARDS).exists());
}
