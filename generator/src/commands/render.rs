//! `render`: the selected environments into the tree on disk (or `--check` against it),
//! pruning only what a render of them owns.

use std::path::{Path, PathBuf};

use kubestore_core::model::Environment;

use crate::cli::{Format, RenderArgs};
use crate::environments::Environments;
use crate::error::{Error, io_error};
use crate::output::{self, Difference, Tree};
use crate::{pipeline, tree};

/// One folder a render writes: where, what it should hold, and how it differs now.
struct RenderedRoot {
    dir: PathBuf,
    expected: Tree,
    differences: Vec<Difference>,
}

pub(super) fn render(environments: &Environments, args: &RenderArgs) -> Result<(), Error> {
    let names = environments.select(&args.selection)?;
    // The root Application and the AppProject list every environment, so every one is
    // validated; only the selected ones are rendered.
    let everyone = environments.load_all()?;
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
    for env in &envs {
        super::print_warnings(env);
    }
    let all = args.selection.all;
    let mut roots = Vec::new();
    for (root, out, rendered) in [
        (
            tree::Root::Gitops,
            args.out.clone(),
            pipeline::render_tree(&envs, &everyone, environments.dir()),
        ),
        (
            tree::Root::Dashboards,
            tree::dashboards_dir(&args.out),
            pipeline::render_dashboard_files(&envs),
        ),
    ] {
        let existing = output::read_tree(&out).map_err(io_error(&out))?;
        let expected = output::merged(&existing, &rendered, &pipeline::owned(&envs, all, root));
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
