//! What the end-to-end test programs share: where the repository and the service binaries
//! are.

use std::path::{Path, PathBuf};

use kubestore_core::catalog;

/// The SLO gate's binary (and package) name.
pub const SLO_CHECK: &str = "slo-check";

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The service binaries, next to this test's folder (`target/<profile>/`), built if
/// missing.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_owned();
    if catalog::names().iter().any(|s| !dir.join(s).exists()) || !dir.join(SLO_CHECK).exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build.arg("build").current_dir(repo());
        for s in catalog::names() {
            build.args(["-p", &format!("kubestore-{s}")]);
        }
        build.args(["-p", SLO_CHECK]);
        assert!(
            build.status().expect("cargo runs").success(),
            "building the services failed"
        );
    }
    dir
}
