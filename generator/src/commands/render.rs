//! `render`: the selected environments into the tree on disk (or `--check` against it),
//! pruning only what a render of them owns.

use kubestore_core::model::Environment;

use crate::cli::{Format, RenderArgs};
use crate::environments::Environments;
use crate::error::{Error, io_error};
use crate::output::{self, Difference};
use crate::pipeline;

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
    for env in &envs {
        super::print_warnings(env);
    }
    let rendered = pipeline::render_tree(&envs, &everyone, environments.dir());
    let existing = output::read_tree(&args.out).map_err(io_error(&args.out))?;
    let owned = pipeline::owned(&envs, args.selection.all);
    let expected = output::merged(&existing, &rendered, &owned);
    let differences = output::differences(&existing, &expected);
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
                    "{} is up to date ({} environment(s), {} files)",
                    args.out.display(),
                    envs.len(),
                    expected.len()
                );
            }
            return Ok(());
        }
        return Err(Error::Stale {
            dir: args.out.clone(),
            differences,
        });
    }
    if !differences.is_empty() {
        output::write_tree(&args.out, &expected).map_err(io_error(&args.out))?;
    }
    if json {
        let report = serde_json::json!({
            "environments": names,
            "files": expected.len(),
            "changed": differences,
        });
        println!("{report:#}");
    } else {
        eprintln!(
            "rendered {} into {}: {} files, {} changed",
            names.join(", "),
            args.out.display(),
            expected.len(),
            differences.len()
        );
    }
    Ok(())
}
