//! The mesh: mutual TLS mode and which layer retries.

use crate::defaults;
use crate::model::check::{Check, Checked};
use crate::model::{Mesh, RetryLayer};
use crate::spec::EnvironmentSpec;

pub(super) fn mesh(c: &mut Check, spec: &EnvironmentSpec) -> Checked<Mesh> {
    let mesh = spec.mesh.clone().unwrap_or_default();
    let strict_mtls = match mesh.mtls.as_deref().unwrap_or(defaults::MESH_MTLS) {
        "strict" => Ok(true),
        "permissive" => Ok(false),
        other => Err(c.error(
            "mesh.mtls",
            format!("`{other}` is not a mode: expected `strict` or `permissive`"),
        )),
    };
    let retries_in = match mesh
        .retries_in
        .as_deref()
        .unwrap_or(defaults::MESH_RETRIES_IN)
    {
        "mesh" => Ok(RetryLayer::Mesh),
        "app" => Ok(RetryLayer::App),
        other => Err(c.error(
            "mesh.retries_in",
            format!("`{other}` is not a layer: expected `mesh` or `app`"),
        )),
    };
    Ok(Mesh {
        strict_mtls: strict_mtls?,
        retries_in: retries_in?,
    })
}
