//! `kubestore-gen`: environment files in, a Kustomize + Argo CD tree out.
//!
//! The data flows one way: [`spec`] (load the YAML) -> [`model`] (validate) ->
//! [`render`] (objects) -> [`layout`] (base and overlays) -> [`output`] (bytes on disk),
//! with the paths of the tree in [`tree`].

pub mod baseline;
pub mod cli;
pub mod crds;
pub mod envoy;
pub mod layout;
pub mod output;
pub mod render;
pub mod tree;

pub use kubestore_core::{catalog, conventions, defaults, metrics, model, sli, slo_check, spec};

use std::path::{Path, PathBuf};

use cli::{Cli, Command, EnvoyArgs, ExplainFormat, Format, RenderArgs, Selection};
use model::Environment;
use output::{Difference, Owned, Tree};
use spec::ConfigErrors;

/// What can stop a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more environment files are invalid.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigErrors>),
    /// The tree on disk (or the dashboards beside it) differs from a fresh render.
    #[error("{} is stale: {} file(s) there or in the dashboards beside it differ from a fresh render; run `kubestore-gen render` and commit", .dir.display(), .differences.len())]
    Stale {
        /// The rendered tree's folder.
        dir: PathBuf,
        /// What differs.
        differences: Vec<Difference>,
    },
    /// A file could not be read or written.
    #[error("cannot access {}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The command line names something that does not exist.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// Process exit code, as documented in `--help`.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) | Error::Stale { .. } => 1,
            Error::Io { .. } | Error::Usage(_) => 2,
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Runs a parsed command line; progress and reports go to stdout and stderr.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Render(args) => render_command(&cli.environments, &args),
        Command::Validate(selection) => validate_command(&cli.environments, &selection),
        Command::Explain(args) => {
            // The same names as `validate` and `render`: a file of the folder, never a path.
            let selection = Selection {
                envs: vec![args.env.clone()],
                all: false,
                format: Format::Text,
            };
            selected(&cli.environments, &selection)?;
            let env = load_environment(&cli.environments, &args.env)?;
            let text = match args.format {
                ExplainFormat::Yaml => serde_saphyr::to_string(&env).expect("the model serializes"),
                ExplainFormat::Json => {
                    serde_json::to_string_pretty(&env).expect("the model serializes") + "\n"
                }
            };
            print!("{text}");
            Ok(())
        }
        Command::Envoy(args) => envoy_command(&cli.environments, &args),
    }
}

/// Writes each Envoy configuration next to its final name and renames it into place, so a
/// reader never sees half a file.
pub fn write_envoy_configs(
    env: &Environment,
    ports: envoy::ports::LocalPorts,
    out: &Path,
) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(out).map_err(io_error(out))?;
    let mut written = Vec::new();
    for config in envoy::render_local(env, ports) {
        let path = out.join(&config.file);
        let text = serde_saphyr::to_string(&config.bootstrap).expect("JSON values serialize");
        let mut tmp = tempfile::NamedTempFile::new_in(out).map_err(io_error(out))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(io_error(&path))?;
        tmp.persist(&path)
            .map_err(|e| e.error)
            .map_err(io_error(&path))?;
        written.push(path);
    }
    Ok(written)
}

fn envoy_command(dir: &Path, args: &EnvoyArgs) -> Result<(), Error> {
    let env = load_environment(dir, &args.env)?;
    let ports = envoy::ports::LocalPorts {
        base: args.port_base,
    };
    let written = write_envoy_configs(&env, ports, &args.out)?;
    for path in &written {
        println!("{}", path.display());
    }
    Ok(())
}

/// Names of the environments a selection means, checked to exist.
pub fn selected(dir: &Path, selection: &Selection) -> Result<Vec<String>, Error> {
    let available = available_environments(dir)?;
    if selection.all {
        if available.is_empty() {
            return Err(Error::Usage(format!(
                "no environment files (*.yaml) in {}",
                dir.display()
            )));
        }
        return Ok(available);
    }
    for name in &selection.envs {
        if !available.contains(name) {
            return Err(Error::Usage(format!(
                "no environment `{name}`: {} has no {name}.yaml (found: {})",
                dir.display(),
                available.join(", ")
            )));
        }
    }
    let mut names = selection.envs.clone();
    names.dedup();
    Ok(names)
}

/// Names of the `*.yaml` files in `dir`, sorted.
pub fn available_environments(dir: &Path) -> Result<Vec<String>, Error> {
    let entries = std::fs::read_dir(dir).map_err(io_error(dir))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_error(dir))?.path();
        if path.extension().is_some_and(|e| e == "yaml")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            names.push(stem.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Loads and validates one environment, checked against the others in `dir`.
pub fn load_environment(dir: &Path, name: &str) -> Result<Environment, Error> {
    load_environments(dir, &[name.to_owned()]).map(|mut envs| envs.remove(0))
}

/// Loads every named environment, reporting the problems of all of them together.
pub fn load_environments(dir: &Path, names: &[String]) -> Result<Vec<Environment>, Error> {
    let mut envs = Vec::new();
    let mut invalid = Vec::new();
    for (_, result) in check_environments(dir, names)? {
        match result {
            Ok(env) => envs.push(env),
            Err(errors) => invalid.push(errors),
        }
    }
    if invalid.is_empty() {
        Ok(envs)
    } else {
        Err(Error::Invalid(invalid))
    }
}

/// An environment's name and its validation result.
pub type Checked = (String, Result<Environment, ConfigErrors>);

/// Loads and validates the environments `names`, each one also checked against every
/// other environment file in `dir` (a namespace, host or Application two of them claim).
/// One result per name, in order; only IO errors of the named files stop it.
pub fn check_environments(dir: &Path, names: &[String]) -> Result<Vec<Checked>, Error> {
    let mut all = available_environments(dir)?;
    all.extend(
        names
            .iter()
            .filter(|n| !all.contains(n))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let mut loaded = Vec::new();
    for name in &all {
        let path = dir.join(format!("{name}.yaml"));
        match spec::load(&path) {
            Ok(result) => loaded.push((name.clone(), path, result)),
            Err(source) if names.contains(name) => return Err(Error::Io { path, source }),
            // Another environment's file: its own validation reports it.
            Err(_) => {}
        }
    }
    let readable: Vec<&spec::Loaded> = loaded
        .iter()
        .filter_map(|(_, _, r)| r.as_ref().ok())
        .collect();
    let conflicts = model::conflicts(&readable);
    let mut out = Vec::new();
    for name in names {
        let Some((_, path, result)) = loaded.iter().find(|(n, _, _)| n == name) else {
            continue;
        };
        let clashes: Vec<_> = conflicts
            .iter()
            .filter(|e| &e.file == path)
            .cloned()
            .collect();
        let result = match result {
            Err(errors) => Err(errors.clone()),
            Ok(loaded) => Environment::from_loaded(loaded),
        };
        let result = match (result, clashes.is_empty()) {
            (result, true) => result,
            (Ok(_), false) => {
                let mut errors = clashes;
                spec::sort_errors(&mut errors);
                Err(ConfigErrors(errors))
            }
            (Err(ConfigErrors(mut errors)), false) => {
                errors.extend(clashes);
                spec::sort_errors(&mut errors);
                Err(ConfigErrors(errors))
            }
        };
        out.push((name.clone(), result));
    }
    Ok(out)
}

/// Renders environments into files, keyed by path relative to the tree's root. Pure: no
/// file is read or written.
pub fn render_tree(envs: &[Environment], environments_dir: &Path) -> Tree {
    render_selected(envs, envs, environments_dir)
}

/// Renders `envs` only, but the files every environment shares (the root Application and
/// the AppProject) from `everyone`, so a render of one environment still lists them all.
pub fn render_selected(
    envs: &[Environment],
    everyone: &[Environment],
    environments_dir: &Path,
) -> Tree {
    let base_objects = render::render_all(&baseline::baseline());
    let mut tree = Tree::new();
    for file in layout::base(&base_objects) {
        let text = output::to_text(&file, baseline::ORIGIN);
        tree.insert(file.path, text);
    }
    // Environments render independently: spread them over the cores. The tree is a
    // sorted map, so the result does not depend on which thread finished first.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = envs.len().div_ceil(threads).max(1);
    let base_objects = &base_objects;
    let parts: Vec<Tree> = std::thread::scope(|scope| {
        let workers: Vec<_> = envs
            .chunks(chunk)
            .map(|group| {
                scope.spawn(move || {
                    let mut part = Tree::new();
                    for env in group {
                        part.extend(environment_tree(env, base_objects, environments_dir));
                    }
                    part
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("rendering never panics"))
            .collect()
    });
    for part in parts {
        tree.extend(part);
    }
    tree.extend(argocd_shared(everyone));
    tree
}

/// The files of one environment: its overlay, plain files and Argo CD Application.
fn environment_tree(
    env: &Environment,
    base_objects: &[render::Object],
    environments_dir: &Path,
) -> Tree {
    let mut tree = Tree::new();
    let source = environments_dir.join(format!("{}.yaml", env.name));
    let source = source.to_string_lossy().replace('\\', "/");
    let env_objects = render::render_all(env);
    let mut extra = vec![render::render_namespace(env)];
    extra.extend(render::render_monitoring(env));
    extra.extend(render::render_secrets(env));
    for object in &mut extra {
        render::argocd::annotate_sync_wave(object);
    }
    for file in layout::overlay(env, base_objects, &env_objects, &extra) {
        let text = output::to_text(&file, &source);
        tree.insert(file.path, text);
    }
    for (path, plain) in render::render_plain(env) {
        let text = match plain {
            render::Plain::Yaml(content) => output::to_text(
                &layout::File {
                    path: path.clone(),
                    content,
                },
                &source,
            ),
            render::Plain::Markdown(text) => {
                format!("<!-- Generated by kubestore-gen from {source}. DO NOT EDIT. -->\n{text}")
            }
        };
        tree.insert(path, text);
    }
    let app = render::argocd::application(env);
    insert_argocd(&mut tree, app, &source);
    tree
}

/// The dashboards of `envs` as files to import, keyed by path inside the dashboards
/// folder beside the tree ([`tree::DASHBOARDS`]). Pure, like [`render_selected`].
pub fn render_dashboard_files(envs: &[Environment]) -> Tree {
    envs.iter()
        .flat_map(render::dashboards::render_dashboard_files)
        .collect()
}

/// The Argo CD files every environment shares: the root Application and the AppProject.
/// They describe all environments (see [`render_selected`]).
fn argocd_shared(envs: &[Environment]) -> Tree {
    let mut tree = Tree::new();
    let source = "the environment files";
    insert_argocd(&mut tree, render::argocd::root(envs), source);
    insert_argocd(&mut tree, render::argocd::project(envs), source);
    tree
}

fn insert_argocd(tree: &mut Tree, object: render::Object, source: &str) {
    let file = layout::File {
        path: crate::tree::argocd_file(&object.file),
        content: object.value,
    };
    let text = output::to_text(&file, source);
    tree.insert(file.path, text);
}

/// The paths of `root` a render of `envs` owns.
fn owned(envs: &[Environment], all: bool, root: tree::Root) -> Owned {
    match (root, all) {
        (tree::Root::Gitops, true) => Owned::All,
        (tree::Root::Dashboards, true) => Owned::AllBut(
            tree::DASHBOARDS_SOURCES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        ),
        (root, false) => {
            let mut prefixes = Vec::new();
            if root == tree::Root::Gitops {
                prefixes.push(format!("{}/", tree::BASE));
            }
            prefixes.extend(envs.iter().flat_map(|e| tree::EnvTree::of(e).owned(root)));
            Owned::Prefixes(prefixes)
        }
    }
}

/// One folder a render writes: where, what it should hold, and how it differs now.
struct RenderedRoot {
    dir: PathBuf,
    expected: Tree,
    differences: Vec<Difference>,
}

fn render_command(dir: &Path, args: &RenderArgs) -> Result<(), Error> {
    let names = selected(dir, &args.selection)?;
    // The root Application and the AppProject list every environment, so every file is
    // loaded (once); only the selected ones are rendered.
    let everyone = load_environments(dir, &available_environments(dir)?)?;
    let envs: Vec<Environment> = everyone
        .iter()
        .filter(|e| names.contains(&e.name))
        .cloned()
        .collect();
    if let Some(env) = envs.iter().find(|e| {
        tree::DASHBOARDS_SOURCES
            .iter()
            .any(|s| s.trim_end_matches('/') == e.name)
    }) {
        return Err(Error::Usage(format!(
            "environment `{}`: its dashboards would go to {}/{}/, which holds the dashboards' own files; rename the environment",
            env.name,
            tree::DASHBOARDS,
            env.name
        )));
    }
    print_warnings(&envs);
    let all = args.selection.all;
    let mut roots = Vec::new();
    for (root, out, rendered) in [
        (
            tree::Root::Gitops,
            args.out.clone(),
            render_selected(&envs, &everyone, dir),
        ),
        (
            tree::Root::Dashboards,
            tree::dashboards_dir(&args.out),
            render_dashboard_files(&envs),
        ),
    ] {
        let existing = output::read_tree(&out).map_err(io_error(&out))?;
        let expected = output::merged(&existing, &rendered, &owned(&envs, all, root));
        let mut differences = output::differences(&existing, &expected);
        if root == tree::Root::Dashboards {
            // Reported beside the tree's own paths, so named by their folder.
            for d in &mut differences {
                let (Difference::Stale(p) | Difference::Missing(p) | Difference::Extra(p)) = d;
                *p = format!("{}/{p}", tree::DASHBOARDS);
            }
        }
        roots.push(RenderedRoot {
            dir: out,
            expected,
            differences,
        });
    }
    let differences: Vec<Difference> = roots
        .iter()
        .flat_map(|r| r.differences.iter().cloned())
        .collect();
    let files: usize = roots.iter().map(|r| r.expected.len()).sum();
    let json = args.selection.format == Format::Json;
    if args.check {
        if json {
            let report = serde_json::json!({"up_to_date": differences.is_empty(), "differences": differences});
            println!("{report:#}");
        } else {
            for d in &differences {
                match d {
                    Difference::Stale(p) => println!("stale    {p}"),
                    Difference::Missing(p) => println!("missing  {p}"),
                    Difference::Extra(p) => println!("extra    {p}"),
                }
            }
        }
        if differences.is_empty() {
            if !json {
                eprintln!(
                    "{} and {} are up to date ({} environment(s), {files} files)",
                    args.out.display(),
                    tree::dashboards_dir(&args.out).display(),
                    envs.len(),
                );
            }
            return Ok(());
        }
        return Err(Error::Stale {
            dir: args.out.clone(),
            differences,
        });
    }
    let changed: Vec<(&Path, &Tree)> = roots
        .iter()
        .filter(|r| !r.differences.is_empty())
        .map(|r| (r.dir.as_path(), &r.expected))
        .collect();
    if !changed.is_empty() {
        output::write_trees(&changed).map_err(|e| Error::Io {
            path: e.dir,
            source: e.source,
        })?;
    }
    if json {
        let report = serde_json::json!({
            "environments": names,
            "files": files,
            "changed": differences,
        });
        println!("{report:#}");
    } else {
        eprintln!(
            "rendered {} into {} and {}: {files} files, {} changed",
            names.join(", "),
            args.out.display(),
            tree::dashboards_dir(&args.out).display(),
            differences.len()
        );
    }
    Ok(())
}

/// Warnings go to stderr, so they never mix with a JSON report on stdout.
fn print_warnings(envs: &[Environment]) {
    for warning in envs.iter().flat_map(Environment::warnings) {
        eprintln!("warning: {warning}");
    }
}

fn validate_command(dir: &Path, selection: &Selection) -> Result<(), Error> {
    let names = selected(dir, selection)?;
    let mut reports = Vec::new();
    let mut invalid = Vec::new();
    for (name, result) in check_environments(dir, &names)? {
        match result {
            Ok(env) => {
                print_warnings(std::slice::from_ref(&env));
                let warnings: Vec<_> = env.warnings().iter().map(ToString::to_string).collect();
                reports.push(serde_json::json!({"environment": name, "valid": true, "errors": [], "warnings": warnings}))
            }
            Err(errors) => {
                let list: Vec<_> = errors
                    .0
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "file": e.file.to_string_lossy(),
                            "line": e.position.map(|p| p.0),
                            "column": e.position.map(|p| p.1),
                            "key": e.key,
                            "message": e.message,
                        })
                    })
                    .collect();
                reports
                    .push(serde_json::json!({"environment": name, "valid": false, "errors": list}));
                invalid.push(errors);
            }
        }
    }
    match selection.format {
        Format::Json => println!("{:#}", serde_json::Value::Array(reports)),
        Format::Text => {
            for name in &names {
                if !invalid.iter().any(|e| {
                    e.0.first()
                        .is_some_and(|f| f.file.file_stem().is_some_and(|s| s == name.as_str()))
                }) {
                    println!("{}: valid", dir.join(format!("{name}.yaml")).display());
                }
            }
        }
    }
    if invalid.is_empty() {
        Ok(())
    } else if selection.format == Format::Json {
        // The report above already lists every error; the exit code still says "invalid".
        Err(Error::Invalid(Vec::new()))
    } else {
        Err(Error::Invalid(invalid))
    }
}
