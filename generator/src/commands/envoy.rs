//! `envoy`: the Envoy bootstraps of the one-machine stack, written into a folder.

use std::path::{Path, PathBuf};

use kubestore_core::model::Environment;

use crate::cli::EnvoyArgs;
use crate::environments::Environments;
use crate::envoy::{self, ports::LocalPorts};
use crate::error::{Error, io_error};

pub(super) fn envoy(environments: &Environments, args: &EnvoyArgs) -> Result<(), Error> {
    let env = environments.load_one(&args.env)?;
    let ports = LocalPorts {
        base: args.port_base,
    };
    for path in write_envoy_configs(&env, ports, &args.out)? {
        println!("{}", path.display());
    }
    Ok(())
}

/// Writes each Envoy configuration next to its final name and renames it into place, so a
/// reader never sees half a file.
pub fn write_envoy_configs(
    env: &Environment,
    ports: LocalPorts,
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
