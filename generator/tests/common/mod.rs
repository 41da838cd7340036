//! What several test files share: the repository's environments, validated, and running
//! promtool.
// Each test file is its own crate and uses only part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use kubestore_core::model::Environment;

/// Every environment of `environments/`, validated.
pub fn environments() -> Vec<Environment> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments");
    kubestore_gen::Environments::read(&dir)
        .expect("environments folder")
        .load_all()
        .expect("the environments are valid")
}

/// Runs promtool in `dir`, failing the test with its output when it fails or is missing.
pub fn promtool(args: &[&str], dir: &Path) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("promtool is required (apt-get install -y prometheus): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}
