//! A bundled service's settings, layered from `services.<name>`, `defaults` and the
//! built-in defaults: replicas, autoscaling, rollout, drain, disruption budget and log
//! level (resources and resilience in their own modules), and the route timeouts of
//! callers against those of the services they wait on.

use super::names::unknown_service;
use super::resilience::resilience;
use super::resources::resources;
use crate::catalog::{self, ServiceDef};
use crate::defaults;
use crate::model::check::{Check, Checked};
use crate::model::images::ImageSettings;
use crate::model::layers::{BuiltinAt, Layers};
use crate::model::service::{Disruption, Image, Replicas, Service};
use crate::model::units::{CountOrPercent, Duration, Percent};
use crate::spec::{EnvironmentSpec, ServiceSpec};

/// Most replicas a service may ask for.
const MAX_REPLICAS: u32 = 1000;

/// Longest drain we accept: beyond this a rollout of 10 pods takes the better part of an hour.
const MAX_DRAIN: Duration = Duration::from_millis(10 * 60 * 1000);

/// Every service of the catalogue with its checked settings, in catalogue order; an
/// override of a service the catalogue does not have is refused.
pub(super) fn services(
    c: &mut Check,
    spec: &EnvironmentSpec,
    images: &Checked<ImageSettings>,
) -> Checked<Vec<Service>> {
    let overrides = spec.services.clone().unwrap_or_default();
    for name in overrides.keys() {
        if catalog::service(name).is_none() {
            c.error(&format!("services.{name}"), unknown_service(name));
        }
    }
    let builtin = defaults::service();
    let layers_of = |name: &str| -> Layers<'_, ServiceSpec> {
        Layers::of(
            "",
            name,
            &overrides,
            spec.defaults.as_ref(),
            &builtin,
            BuiltinAt::Field,
        )
    };
    let services: Vec<Checked<Service>> = catalog::SERVICES
        .iter()
        .map(|def| {
            let image = images
                .as_ref()
                .map(|(registry, tag, digests)| Image {
                    repository: format!("{registry}/{}", def.name),
                    tag: tag.clone(),
                    digest: digests.get(def.name).cloned(),
                })
                .map_err(|reported| *reported);
            service(c, def, &layers_of(def.name), image)
        })
        .collect();
    timeout_order(c, &services, |name| timeout_key(&layers_of(name), name));
    services.into_iter().collect()
}

/// Where a service's route timeout is set; a built-in value has no line, so then where
/// the fix goes.
fn timeout_key(layers: &ServiceLayers, name: &str) -> String {
    layers
        .get("resilience.timeout", |s| {
            s.resilience.as_ref()?.timeout.as_ref()
        })
        .map(|(_, key): (String, String)| key)
        .filter(|key| key.starts_with("services.") || key.starts_with("defaults."))
        .unwrap_or_else(|| format!("services.{name}.resilience.timeout"))
}

/// Warns where a service's route timeout is shorter than that of a service it calls:
/// its callers' sidecars give up on it while it still waits, so a slow answer it then
/// gets reaches nobody (and a keyed checkout is made, but reported as failed).
fn timeout_order(c: &mut Check, services: &[Checked<Service>], key_of: impl Fn(&str) -> String) {
    let built: Vec<&Service> = services.iter().filter_map(|s| s.as_ref().ok()).collect();
    for caller in &built {
        let timeout = caller.resilience.timeout;
        let slower: Vec<String> = caller
            .def
            .calls
            .iter()
            .filter_map(|name| built.iter().find(|s| s.name() == *name))
            .filter(|callee| callee.resilience.timeout > timeout)
            .map(|callee| format!("{} ({})", callee.name(), callee.resilience.timeout))
            .collect();
        if !slower.is_empty() {
            let name = caller.name();
            c.warn(
                &key_of(name),
                format!(
                    "{name}'s route timeout {timeout} is shorter than that of {}, which it \
                     waits on: its callers give up while it still waits; give {name} a \
                     longer timeout",
                    slower.join(", ")
                ),
            );
        }
    }
}

pub(super) type ServiceLayers<'a> = Layers<'a, ServiceSpec>;

/// A service's effective settings; `image` is an `Err` when the image settings were
/// invalid (already reported), so that the service's own checks still run.
fn service(
    c: &mut Check,
    def: &'static ServiceDef,
    layers: &ServiceLayers,
    image: Checked<Image>,
) -> Checked<Service> {
    let mark = c.mark();
    let name = def.name;

    let (min, min_key) = layers.must(c, "replicas.min", |s| s.replicas.as_ref()?.min.as_ref())?;
    let (max, max_key) = layers.must(c, "replicas.max", |s| s.replicas.as_ref()?.max.as_ref())?;
    if min < 1 {
        c.error(&min_key, "must be at least 1");
    }
    if max > MAX_REPLICAS {
        c.error(
            &max_key,
            format!("must be at most {MAX_REPLICAS} (got {max})"),
        );
    }
    if max < min {
        c.error(
            &max_key,
            format!("must be ≥ replicas.min ({min}) for {name}"),
        );
    }
    let replicas = Replicas { min, max };

    let cpu_target = layers.must(c, "cpu_target", |s| s.cpu_target.as_ref())?;
    let cpu_target = c.parse(&cpu_target, Percent::parse).and_then(|p| {
        if p.micro() == 0 {
            Err(c.error(&cpu_target.1, "must be above 0%"))
        } else if !p.is_whole() {
            Err(c.error(
                &cpu_target.1,
                format!("{p} is not a whole percentage: the autoscaler takes whole percents"),
            ))
        } else {
            Ok(p)
        }
    });

    let resources = resources(
        c,
        &|key, f| layers.get(key, |s| f(s.resources.as_ref()?)),
        name,
    );
    if let Ok(resources) = &resources
        && replicas.autoscaled()
        && resources.cpu.is_none()
    {
        let (_, cpu_key) =
            layers.must(c, "resources.cpu", |s| s.resources.as_ref()?.cpu.as_ref())?;
        c.error(
            &cpu_key,
            format!(
                "{name} autoscales on CPU (replicas {min}..{max}), which needs a CPU request; \
                 set one, or make replicas.min equal replicas.max"
            ),
        );
    }

    let surge = layers.must(c, "rollout.max_surge", |s| {
        s.rollout.as_ref()?.max_surge.as_ref()
    })?;
    let max_surge = c.parse(&surge, CountOrPercent::parse).and_then(|v| {
        if matches!(v, CountOrPercent::Count(0) | CountOrPercent::Percent(0)) {
            Err(c.error(
                &surge.1,
                "must be above 0: with maxUnavailable 0, a rollout could never start a new pod",
            ))
        } else {
            Ok(v)
        }
    });

    let drain = layers.must(c, "drain", |s| s.drain.as_ref())?;
    let drain = c.parse(&drain, Duration::parse).and_then(|d| {
        if d > MAX_DRAIN {
            Err(c.error(&drain.1, format!("must be at most {MAX_DRAIN}")))
        } else {
            Ok(d)
        }
    });

    let disruption = disruption(c, layers, replicas, name);

    let (log_level, log_key) = layers.must(c, "log_level", |s| s.log_level.as_ref())?;
    if log_level.trim().is_empty() {
        c.error(&log_key, "must not be empty");
    }

    let resilience = resilience(c, layers);

    c.clean_since(mark)?;
    Ok(Service {
        def,
        image: image?,
        replicas,
        cpu_target: cpu_target?,
        resources: resources?,
        max_surge: max_surge?,
        drain: drain?,
        disruption: disruption?,
        log_level,
        resilience: resilience?,
    })
}

fn disruption(
    c: &mut Check,
    layers: &ServiceLayers,
    replicas: Replicas,
    name: &str,
) -> Checked<Disruption> {
    // The most specific `disruption` table wins as a whole: mixing min_available from one
    // layer with max_unavailable from another would make a PDB nobody wrote.
    let (table, key) = layers.must(c, "disruption", |s| s.disruption.as_ref())?;
    match (table.min_available, table.max_unavailable) {
        (Some(_), Some(_)) => Err(c.error(&key, "set min_available or max_unavailable, not both")),
        (Some(min_available), None) => {
            if min_available >= replicas.min {
                Err(c.error(
                    &format!("{key}.min_available"),
                    format!(
                        "{min_available} would block every node drain: {name} can run as few as \
                         {} replicas (replicas.min), so min_available must be below that",
                        replicas.min
                    ),
                ))
            } else {
                Ok(Disruption::MinAvailable(min_available))
            }
        }
        (None, Some(0)) => Err(c.error(
            &format!("{key}.max_unavailable"),
            "0 would block every node drain; use at least 1",
        )),
        (None, Some(n)) => Ok(Disruption::MaxUnavailable(n)),
        (None, None) => Ok(Disruption::MaxUnavailable(defaults::MAX_UNAVAILABLE)),
    }
}
