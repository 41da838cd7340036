//! Fault-injection experiments: allowed only where `chaos.allowed` says so, and never in
//! production.

use std::collections::BTreeSet;

use super::names::unknown_service;
use super::resilience::positive;
use crate::catalog;
use crate::defaults;
use crate::model::Experiment;
use crate::model::check::{Check, Checked};
use crate::model::dns;
use crate::model::units::{Duration, Percent};
use crate::spec::EnvironmentSpec;

/// Names of production environments, which never run fault injection.
pub const PRODUCTION: [&str; 2] = ["prod", "production"];

/// A number as the user probably wrote it, without hundreds of digits for `1e308`.
fn shown(p: f64) -> String {
    if p.abs() < 1e6 {
        format!("{p}")
    } else {
        format!("{p:e}")
    }
}

pub(super) fn experiments(c: &mut Check, spec: &EnvironmentSpec) -> Vec<Experiment> {
    let chaos = spec.chaos.clone().unwrap_or_default();
    let allowed = chaos.allowed.unwrap_or(defaults::CHAOS_ALLOWED);
    // Production never injects faults; staging, which pages like production, is where
    // experiments run.
    let production = PRODUCTION.contains(&spec.name.as_str());
    if production && allowed {
        c.error(
            "chaos.allowed",
            format!(
                "{} never allows fault injection: run experiments in staging, or set \
                 chaos.allowed: false",
                spec.name
            ),
        );
    }
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (i, e) in chaos
        .experiments
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let key = format!("chaos.experiments[{i}]");
        let mark = c.mark();
        if production {
            c.error(
                &key,
                format!(
                    "{} never runs fault injection: move `{}` to staging",
                    spec.name, e.name
                ),
            );
        } else if !allowed {
            c.error(
                &key,
                format!(
                    "fault injection is not allowed in {}: set chaos.allowed: true to run `{}`",
                    spec.name, e.name
                ),
            );
        }
        if !dns::is_label(&e.name) {
            c.error(
                &format!("{key}.name"),
                format!("`{}` is not a valid name: {}", e.name, dns::LABEL_RULE),
            );
        } else if !names.insert(e.name.clone()) {
            c.error(
                &format!("{key}.name"),
                format!("a second experiment is named `{}`", e.name),
            );
        }
        if catalog::service(&e.service).is_none() {
            c.error(&format!("{key}.service"), unknown_service(&e.service));
        }
        if let Some(route) = &e.route
            && !route.starts_with('/')
        {
            c.error(
                &format!("{key}.route"),
                format!("`{route}` must start with `/`"),
            );
        }
        if e.delay.is_none() && e.abort.is_none() {
            c.error(&key, "an experiment needs a delay, an abort, or both");
        }
        let percent = |c: &mut Check, p: f64, at: String| {
            if !(p > 0.0 && p <= 100.0) {
                Err(c.error(
                    &at,
                    format!(
                        "{} is not a share of requests: expected more than 0 and at most 100",
                        shown(p)
                    ),
                ))
            } else {
                Percent::parse(&format!("{p}")).map_err(|m| c.error(&at, m))
            }
        };
        let delay = e.delay.as_ref().map(|d| -> Checked<(Duration, Percent)> {
            let fixed = positive(c, &(d.fixed.clone(), format!("{key}.delay.fixed")));
            let p = percent(c, d.percent, format!("{key}.delay.percent"));
            Ok((fixed?, p?))
        });
        let abort = e.abort.as_ref().map(|a| -> Checked<(u16, Percent)> {
            if !(200..=599).contains(&a.status) {
                c.error(
                    &format!("{key}.abort.status"),
                    format!("{} is not an HTTP status", a.status),
                );
            }
            let p = percent(c, a.percent, format!("{key}.abort.percent"));
            Ok((a.status, p?))
        });
        if let (Ok(delay), Ok(abort)) = (delay.transpose(), abort.transpose())
            && c.clean_since(mark).is_ok()
        {
            out.push(Experiment {
                name: e.name,
                service: e.service,
                route: e.route,
                delay,
                abort,
            });
        }
    }
    out
}
