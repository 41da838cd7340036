//! `--env`: the SLOs of an environment file.

use std::path::Path;

use crate::definition::SloDefinition;
use crate::error::{SpecError, SpecErrors};
use crate::span::Span;

/// The SLOs of one environment and its post-sync window.
pub struct EnvSlos {
    /// The SLOs.
    pub slos: Vec<SloDefinition>,
    /// The post-sync check's window.
    pub window: Span,
    /// The file read.
    pub file: String,
}

/// Reads `dir/name.yaml`.
pub fn load(dir: &Path, name: &str) -> Result<EnvSlos, SpecErrors> {
    let file = dir.join(format!("{name}.yaml"));
    Err(SpecErrors(vec![SpecError::file(
        &file,
        "--env is not available in this build",
    )]))
}
