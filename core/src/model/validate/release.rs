//! A service's release settings: the strategy, the canary steps (weights strictly rising,
//! each 1 to 99, every pause at least one analysis interval) and the gate's limits. A step
//! list set for a service that releases by rolling update is refused rather than ignored,
//! unless the service itself opts out of a canary the shared defaults chose.

use super::services::ServiceLayers;
use crate::defaults;
use crate::model::check::{Check, Checked};
use crate::model::service::{CanaryStep, Release, ReleaseStrategy};
use crate::model::slo::page_factor;
use crate::model::units::Duration;
use crate::spec::{ReleaseSpec, ServiceSpec};

/// Most canary steps: each one is a pause someone waits through.
const MAX_STEPS: usize = 10;

pub(super) fn release(c: &mut Check, layers: &ServiceLayers) -> Checked<Release> {
    fn r(s: &ServiceSpec) -> Option<&ReleaseSpec> {
        s.release.as_ref()
    }
    let mark = c.mark();
    let (strategy_text, strategy_key) =
        layers.must(c, "release.strategy", |s| r(s)?.strategy.as_ref())?;
    let strategy = match strategy_text.as_str() {
        defaults::RELEASE_ROLLING => Ok(ReleaseStrategy::Rolling),
        defaults::RELEASE_CANARY => Ok(ReleaseStrategy::Canary),
        other => Err(c.error(
            &strategy_key,
            format!(
                "`{other}` is not a release strategy: expected `{}` or `{}`",
                defaults::RELEASE_ROLLING,
                defaults::RELEASE_CANARY
            ),
        )),
    };

    let interval = layers.must(c, "release.analysis_interval", |s| {
        r(s)?.analysis_interval.as_ref()
    })?;
    let interval_key = interval.1.clone();
    let interval = c.parse(&interval, Duration::parse).and_then(|d| {
        if d.millis() < 1000 {
            Err(c.error(
                &interval_key,
                format!("{d} is too short: Prometheus needs at least 1s between measurements"),
            ))
        } else {
            Ok(d)
        }
    });

    let (steps_spec, steps_key) = layers.must(c, "release.steps", |s| r(s)?.steps.as_ref())?;
    if let Ok(ReleaseStrategy::Rolling) = strategy
        && specificity(&steps_key) > 0
        && specificity(&steps_key) >= specificity(&strategy_key)
    {
        c.error(
            &steps_key,
            format!(
                "steps apply to a canary, but this release is a rolling update ({}): set \
                 release.strategy: canary, or remove the steps",
                shown_key(&strategy_key)
            ),
        );
    }
    let steps = steps(c, &steps_spec, &steps_key, interval.as_ref().ok().copied());

    let (min_requests, min_key) =
        layers.must(c, "release.min_requests", |s| r(s)?.min_requests.as_ref())?;
    if min_requests == 0 {
        c.error(
            &min_key,
            "must be at least 1: with 0, a canary that got no traffic at all would pass",
        );
    }

    let max_burn = match layers.get("release.max_burn", |s| r(s)?.max_burn.as_ref()) {
        Some((burn, key)) => limit(c, burn, &key, "a burn rate"),
        None => Ok(page_factor()),
    };
    let (ratio, ratio_key) = layers.must(c, "release.max_ratio_to_stable", |s| {
        r(s)?.max_ratio_to_stable.as_ref()
    })?;
    let ratio = limit(c, ratio, &ratio_key, "a ratio");

    c.clean_since(mark)?;
    Ok(Release {
        strategy: strategy?,
        steps: steps?,
        analysis_interval: interval?,
        min_requests,
        max_burn: max_burn?,
        max_ratio_to_stable: ratio?,
    })
}

fn steps(
    c: &mut Check,
    spec: &[crate::spec::CanaryStepSpec],
    key: &str,
    interval: Option<Duration>,
) -> Checked<Vec<CanaryStep>> {
    let mark = c.mark();
    if spec.is_empty() {
        c.error(key, "must list at least one step");
    }
    if spec.len() > MAX_STEPS {
        c.error(
            key,
            format!("has {} steps; at most {MAX_STEPS}", spec.len()),
        );
    }
    let mut out = Vec::new();
    let mut previous: Option<u32> = None;
    for (i, step) in spec.iter().enumerate() {
        let at = format!("{key}[{i}]");
        if step.weight == 0 || step.weight >= 100 {
            c.error(
                &format!("{at}.weight"),
                format!(
                    "{} is not a canary weight: it must be 1 to 99 percent (0 sends the \
                     new version nothing to judge; 100 is the promotion, which follows \
                     the last step)",
                    step.weight
                ),
            );
        } else if let Some(before) = previous
            && step.weight <= before
        {
            c.error(
                &format!("{at}.weight"),
                format!(
                    "{} does not rise above the step before ({before}): each step must \
                     give the new version more traffic",
                    step.weight
                ),
            );
        }
        previous = Some(previous.map_or(step.weight, |p| p.max(step.weight)));
        let pause_key = format!("{at}.pause");
        let pause = c.parse(&(step.pause.clone(), pause_key.clone()), Duration::parse);
        if let (Ok(pause), Some(interval)) = (pause, interval)
            && pause < interval
        {
            c.error(
                &pause_key,
                format!(
                    "{pause} is shorter than release.analysis_interval ({interval}): the \
                     step would end before its first measurement"
                ),
            );
        }
        if let Ok(pause) = pause {
            out.push(CanaryStep {
                weight: step.weight,
                pause,
            });
        }
    }
    c.clean_since(mark)?;
    Ok(out)
}

/// A positive, finite limit.
fn limit(c: &mut Check, value: f64, key: &str, what: &str) -> Checked<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(c.error(
            key,
            format!(
                "{} is not {what} the gate can use: it must be above 0",
                shown(value)
            ),
        ))
    }
}

/// A number as the user probably wrote it.
fn shown(v: f64) -> String {
    if v.abs() < 1e6 {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// How specific the layer that set `key` is: the service's own table, `defaults`, or
/// the built-in defaults (no file line).
fn specificity(key: &str) -> u8 {
    if key.starts_with("services.") {
        2
    } else if key.starts_with("defaults.") {
        1
    } else {
        0
    }
}

fn shown_key(key: &str) -> String {
    if specificity(key) == 0 {
        "the built-in default".to_owned()
    } else {
        format!("set at {key}")
    }
}
