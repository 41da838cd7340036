//! `--env`: the SLOs of an environment file, read through kubestore-core's own loader and
//! model and measured with the selectors its rules are built from, so the check and the
//! rendered rules cannot disagree on a number or a name.

use std::path::{Path, PathBuf};

use kubestore_core::model::Environment;
use kubestore_core::model::slo::SloKind;
use kubestore_core::sli::{error_ratio_series, selector, sli_metrics, slo_labels, slo_name};
use kubestore_core::spec;

use crate::definition::{Budgeting, Numerator, SloDefinition};
use crate::error::{SpecError, SpecErrors};
use crate::promql::CounterExpr;
use crate::span::Span;
use kubestore_core::model::slo::page_factor;

/// The SLOs of one environment and its post-sync window.
pub struct EnvSlos {
    /// The SLOs.
    pub slos: Vec<SloDefinition>,
    /// The post-sync check's window.
    pub window: Span,
    /// The file read.
    pub file: String,
}

fn convert(errors: spec::ConfigErrors) -> SpecErrors {
    SpecErrors(
        errors
            .0
            .into_iter()
            .map(|e| SpecError {
                file: e.file,
                line: e.position.map(|(line, _)| line),
                key: e.key,
                message: e.message,
            })
            .collect(),
    )
}

fn secs(d: kubestore_core::model::Duration) -> Span {
    Span::from_secs(d.millis().div_ceil(1000))
}

/// Reads `dir/name.yaml`.
pub fn load(dir: &Path, name: &str) -> Result<EnvSlos, SpecErrors> {
    let file: PathBuf = dir.join(format!("{name}.yaml"));
    let loaded = spec::load(&file)
        .map_err(|e| SpecErrors(vec![SpecError::file(&file, format!("cannot read: {e}"))]))?
        .map_err(convert)?;
    let env = Environment::from_loaded(&loaded).map_err(convert)?;
    for warning in env.warnings() {
        tracing::warn!("{warning}");
    }
    let origin = file.display().to_string();
    let mut slos = Vec::new();
    for service in &env.slos.services {
        for slo in &service.slos {
            let m = sli_metrics(&env, service, slo);
            let internal = |what: &str, e: String| {
                SpecErrors(vec![SpecError::file(
                    &file,
                    format!(
                        "{}: the built-in {what} query does not parse: {e}",
                        slo_name(service, slo)
                    ),
                )])
            };
            let numerator = CounterExpr::counters(&format!("sum({})", m.subset))
                .map_err(|e| internal("numerator", e))?;
            let total = CounterExpr::counters(&format!("sum({})", m.total))
                .map_err(|e| internal("total", e))?;
            slos.push(SloDefinition {
                name: slo_name(service, slo),
                service: service.name().to_owned(),
                slo: slo.kind.as_str().to_owned(),
                objective: slo.objective_ratio().parse().unwrap_or(f64::NAN),
                period: secs(service.window),
                calendar: None,
                budgeting: Budgeting::Occurrences,
                threshold: None,
                grouping: Vec::new(),
                numerator_kind: match slo.kind {
                    SloKind::Availability => Numerator::Bad,
                    SloKind::Latency => Numerator::Good,
                },
                numerator,
                total,
                min_request_rate: slo.min_request_rate.per_second().parse().ok(),
                recorded_error_ratio: Some(selector(
                    &error_ratio_series(service.window),
                    &slo_labels(&env, service, slo),
                )),
                fast_burn: service.burn_windows()[0]
                    .factor()
                    .parse()
                    .unwrap_or_else(|_| page_factor()),
                origin: origin.clone(),
                named_at: None,
                sources: Default::default(),
                prometheus_url: None,
            });
        }
    }
    Ok(EnvSlos {
        slos,
        window: secs(env.slos.post_sync_check.window),
        file: origin,
    })
}
