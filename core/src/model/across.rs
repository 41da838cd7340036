//! Checks of environments against each other. Each environment's Argo CD Application
//! syncs with prune, so two environments that share a namespace on one cluster would
//! delete each other's objects, and two on one ingress host would split its traffic.

use std::collections::BTreeMap;

use super::validate::ingress_host;
use crate::conventions;
use crate::defaults;
use crate::spec::{ConfigError, Loaded};

/// Every clash between the environments, reported in each file involved and naming the
/// other file.
pub fn conflicts(envs: &[&Loaded]) -> Vec<ConfigError> {
    // (what, value) -> the environments that claim it, with the key that does.
    let mut claims: BTreeMap<(&str, String), Vec<(&Loaded, &str)>> = BTreeMap::new();
    for loaded in envs {
        let spec = &loaded.spec;
        if !spec.namespace.is_empty() {
            let cluster = spec.cluster.as_deref().unwrap_or(defaults::CLUSTER);
            claims
                .entry(("namespace", format!("{cluster} {}", spec.namespace)))
                .or_default()
                .push((loaded, "namespace"));
        }
        if !spec.name.is_empty() {
            claims
                .entry(("host", ingress_host(spec)))
                .or_default()
                .push((loaded, "ingress.host"));
            claims
                .entry(("application", conventions::application_name(&spec.name)))
                .or_default()
                .push((loaded, "name"));
        }
    }
    let mut errors = Vec::new();
    for ((what, _), claimants) in &claims {
        if claimants.len() < 2 {
            continue;
        }
        for (i, (loaded, key)) in claimants.iter().enumerate() {
            for (j, (other, other_key)) in claimants.iter().enumerate() {
                if i == j {
                    continue;
                }
                let at = match other.index.locate(other_key) {
                    Some((line, column)) => format!("{}:{line}:{column}", other.file.display()),
                    None => other.file.display().to_string(),
                };
                let spec = &loaded.spec;
                let message = match *what {
                    "namespace" => format!(
                        "`{}` is also the namespace of {at} on the same cluster: each \
                         environment needs its own, or their Argo CD Applications sync and \
                         prune over each other",
                        spec.namespace
                    ),
                    "host" => format!(
                        "`{}` is also the ingress host of {at}: each environment needs its \
                         own host",
                        ingress_host(spec)
                    ),
                    _ => format!(
                        "`{}` is also the Argo CD Application of {at}: each environment \
                         needs its own name",
                        conventions::application_name(&spec.name)
                    ),
                };
                errors.push(loaded.error(key, message));
            }
        }
    }
    errors
}
