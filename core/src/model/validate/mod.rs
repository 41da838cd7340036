//! The environment's own checks, one module per part of the file, and the assembly of
//! the [`Environment`] from every part's checked value. Images, secrets and SLOs are
//! checked in their own modules of [`super`], into the same [`Check`].

mod cluster;
mod experiments;
mod ingress;
mod mesh;
mod monitoring;
mod names;
mod resilience;
mod resources;
mod services;
mod stores;

pub(crate) use ingress::ingress_host;

use super::Environment;
use super::check::{Check, Checked};
use super::images::images;
use super::service::Image;
use crate::conventions;
use crate::spec::{ConfigErrors, Loaded};

pub(super) fn environment(loaded: &Loaded) -> Result<Environment, ConfigErrors> {
    let mut c = Check::new(loaded);
    let built = assemble(&mut c);
    c.finish(built)
}

/// Runs every check, then builds the environment from the parts' values. The `?`s come
/// last, so one failed part never keeps the next from being checked.
fn assemble(c: &mut Check) -> Checked<Environment> {
    let spec = &c.loaded().spec;
    names::names(c);
    let images = images(c, spec);
    let services = services::services(c, spec, &images);
    let mesh = mesh::mesh(c, spec);
    let (mysql, redis) = stores::stores(c, spec, &images);
    let slo_check_image = images
        .as_ref()
        .map(|(registry, tag, digests)| Image {
            repository: format!("{registry}/{}", conventions::SLO_CHECK),
            tag: tag.clone(),
            digest: digests.get(conventions::SLO_CHECK).cloned(),
        })
        .map_err(|reported| *reported);
    let experiments = experiments::experiments(c, spec);
    let secrets = super::secrets::validate(c);
    let slos = super::slo::validate(c);
    let monitoring = monitoring::monitoring(c, spec);
    let cluster = cluster::cluster(c, spec);
    let git = cluster::git(c, spec);
    let ingress = ingress::ingress(c, spec);

    let warnings = c.take_warnings();
    Ok(Environment {
        name: spec.name.clone(),
        namespace: spec.namespace.clone(),
        cluster,
        git,
        automated_sync: spec
            .sync
            .as_ref()
            .and_then(|s| s.automated)
            .unwrap_or(crate::defaults::AUTOMATED_SYNC),
        ingress,
        mesh: mesh?,
        services: services?,
        mysql: mysql?,
        redis: redis?,
        monitoring: monitoring?,
        experiments,
        secrets: secrets?,
        slo_check_image: slo_check_image?,
        slos: slos?,
        warnings,
        _validated: (),
    })
}
