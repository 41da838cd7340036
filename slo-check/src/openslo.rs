//! Reading OpenSLO v1 documents (`--slos`): `kind: SLO` with an inline indicator or an
//! `indicatorRef` to a `kind: SLI`, whose indicator is a Prometheus `ratioMetric`.
//! Other OpenSLO kinds (Service, AlertPolicy, ...) are skipped; anything slo-check
//! cannot evaluate is an error naming the file, line and key.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::definition::{Numerator, SloDefinition};
use crate::error::{SpecError, SpecErrors};
use crate::promql::CounterExpr;
use crate::span::Span;
use kubestore_core::model::slo::page_factor;

use kubestore_core::slo_check::annotations::{FAST_BURN, MIN_REQUEST_RATE, RECORDED_ERROR_RATIO};

const API_VERSION: &str = "openslo/v1";

#[derive(Debug, Deserialize)]
struct Document {
    #[serde(rename = "apiVersion")]
    api_version: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    #[serde(default)]
    metadata: Option<Spanned<Metadata>>,
    #[serde(default)]
    spec: Option<Spanned<Spec>>,
}

#[derive(Debug, Default, Deserialize)]
struct Metadata {
    name: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    annotations: BTreeMap<String, Spanned<String>>,
}

/// The fields of every kind's `spec` that slo-check reads; other keys are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    service: Option<String>,
    indicator: Option<Spanned<Indicator>>,
    indicator_ref: Option<Spanned<String>>,
    time_window: Option<Spanned<Vec<Spanned<TimeWindow>>>>,
    budgeting_method: Option<Spanned<String>>,
    objectives: Option<Spanned<Vec<Spanned<Objective>>>>,
    // `kind: SLI` carries these at the top of its spec.
    ratio_metric: Option<Spanned<RatioMetric>>,
    threshold_metric: Option<Spanned<serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
struct Indicator {
    #[serde(default)]
    spec: Option<Spanned<IndicatorSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndicatorSpec {
    ratio_metric: Option<Spanned<RatioMetric>>,
    threshold_metric: Option<Spanned<serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
struct RatioMetric {
    counter: Option<Spanned<bool>>,
    good: Option<Spanned<MetricRef>>,
    bad: Option<Spanned<MetricRef>>,
    total: Option<Spanned<MetricRef>>,
    raw: Option<Spanned<serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricRef {
    metric_source: Option<Spanned<MetricSource>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricSource {
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    metric_source_ref: Option<Spanned<String>>,
    spec: Option<Spanned<BTreeMap<String, Spanned<serde_json::Value>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimeWindow {
    duration: Option<Spanned<String>>,
    is_rolling: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Objective {
    display_name: Option<String>,
    name: Option<String>,
    target: Option<Spanned<f64>>,
    target_percent: Option<Spanned<f64>>,
}

/// Every OpenSLO file under `path` (a file, or a folder read recursively), in path order.
fn files(path: &Path) -> Result<Vec<PathBuf>, SpecError> {
    let meta =
        std::fs::metadata(path).map_err(|e| SpecError::file(path, format!("cannot read: {e}")))?;
    if meta.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| SpecError::file(&dir, format!("cannot read: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| SpecError::file(&dir, format!("cannot read: {e}")))?;
            let p = entry.path();
            // A mounted ConfigMap holds each file twice more under `..data` and
            // `..<timestamp>`; hidden entries are never definitions.
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A parsed document with the file it came from.
struct Located {
    file: PathBuf,
    doc: Document,
}

/// Reads every SLO under `path`, or every problem found.
pub fn load(path: &Path) -> Result<Vec<SloDefinition>, SpecErrors> {
    let mut errors = Vec::new();
    let mut docs = Vec::new();
    for file in files(path).map_err(|e| SpecErrors(vec![e]))? {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                errors.push(SpecError::file(&file, format!("cannot read: {e}")));
                continue;
            }
        };
        match serde_saphyr::from_multiple::<Option<Document>>(&text) {
            Ok(parsed) => docs.extend(parsed.into_iter().flatten().map(|doc| Located {
                file: file.clone(),
                doc,
            })),
            Err(e) => errors.push(SpecError {
                file: file.clone(),
                line: e.location().map(|l| l.line()),
                key: String::new(),
                message: first_line(&e.to_string()),
            }),
        }
    }
    let mut slis: HashMap<String, (&Located, &Spanned<RatioMetric>)> = HashMap::new();
    for located in &docs {
        let doc = &located.doc;
        if !matches!(&doc.kind, Some(k) if k.value == "SLI") {
            continue;
        }
        let (Some(name), Some(ratio)) = (
            doc.metadata.as_ref().and_then(|m| m.value.name.as_ref()),
            doc.spec
                .as_ref()
                .and_then(|s| s.value.ratio_metric.as_ref()),
        ) else {
            continue;
        };
        slis.insert(name.value.clone(), (located, ratio));
    }
    let mut out: Vec<SloDefinition> = Vec::new();
    for located in &docs {
        match slo(located, &slis) {
            Ok(Some(defs)) => out.extend(defs),
            Ok(None) => {}
            Err(e) => errors.extend(e),
        }
    }
    let mut seen: HashMap<String, String> = HashMap::new();
    for def in &out {
        if let Some(first) = seen.insert(def.name.clone(), def.origin.clone()) {
            errors.push(SpecError {
                file: PathBuf::from(&def.origin),
                line: None,
                key: "metadata.name".into(),
                message: format!("SLO `{}` is defined twice (first in {first})", def.name),
            });
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(SpecErrors(errors))
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or(text).to_owned()
}

struct At<'a> {
    file: &'a Path,
    errors: Vec<SpecError>,
}

impl At<'_> {
    fn error<T>(&mut self, line: Option<u64>, key: &str, message: impl Into<String>) -> Option<T> {
        self.errors.push(SpecError {
            file: self.file.to_owned(),
            line,
            key: key.to_owned(),
            message: message.into(),
        });
        None
    }
}

fn line<T>(s: &Spanned<T>) -> Option<u64> {
    Some(s.referenced.line())
}

/// The SLO definitions of one document: `None` for kinds that are not `SLO`.
fn slo(
    located: &Located,
    slis: &HashMap<String, (&Located, &Spanned<RatioMetric>)>,
) -> Result<Option<Vec<SloDefinition>>, Vec<SpecError>> {
    let doc = &located.doc;
    let mut at = At {
        file: &located.file,
        errors: Vec::new(),
    };
    match &doc.api_version {
        Some(v) if v.value == API_VERSION => {}
        Some(v) => {
            at.error::<()>(
                line(v),
                "apiVersion",
                format!("`{}` is not supported: expected `{API_VERSION}`", v.value),
            );
            return Err(at.errors);
        }
        None => {
            at.error::<()>(
                None,
                "apiVersion",
                format!("missing: expected `apiVersion: {API_VERSION}` (an OpenSLO document)"),
            );
            return Err(at.errors);
        }
    }
    match &doc.kind {
        Some(k) if k.value == "SLO" => {}
        Some(_) => return Ok(None),
        None => {
            at.error::<()>(None, "kind", "missing: expected `kind: SLO`");
            return Err(at.errors);
        }
    }
    let metadata_line = doc.metadata.as_ref().and_then(line);
    let metadata = doc.metadata.as_ref().map(|m| &m.value);
    let name = metadata
        .and_then(|m| m.name.as_ref())
        .map(|n| n.value.clone())
        .or_else(|| {
            at.error(
                metadata_line,
                "metadata.name",
                "missing: every SLO needs a name",
            )
        });
    let Some(spec) = &doc.spec else {
        at.error::<()>(None, "spec", "missing");
        return Err(at.errors);
    };
    let spec_line = line(spec);
    let spec = &spec.value;

    let service = spec
        .service
        .clone()
        .or_else(|| label(metadata, "service"))
        .or_else(|| {
            at.error(
                spec_line,
                "spec.service",
                "missing: which service the SLO is for",
            )
        });

    let ratio = indicator_ratio(&mut at, spec, spec_line, slis);
    let numbers = ratio.and_then(|r| ratio_exprs(&mut at, r));
    let period = time_window(&mut at, spec, spec_line);
    if let Some(method) = &spec.budgeting_method
        && method.value != "Occurrences"
    {
        at.error::<()>(
            line(method),
            "spec.budgetingMethod",
            format!(
                "`{}` is not supported: slo-check counts events (`Occurrences`)",
                method.value
            ),
        );
    }
    let objectives = objectives(&mut at, spec, spec_line);

    let annotations = metadata.map(|m| &m.annotations);
    let min_request_rate = annotations
        .and_then(|a| a.get(MIN_REQUEST_RATE))
        .and_then(|v| match parse_rate(&v.value) {
            Ok(rate) => Some(rate),
            Err(e) => at.error(
                line(v),
                &format!("metadata.annotations.{MIN_REQUEST_RATE}"),
                e,
            ),
        });
    let fast_burn = annotations
        .and_then(|a| a.get(FAST_BURN))
        .and_then(|v| match v.value.trim().parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Some(f),
            _ => at.error(
                line(v),
                &format!("metadata.annotations.{FAST_BURN}"),
                format!(
                    "`{}` is not a burn-rate factor (a positive number, e.g. `14.4`)",
                    v.value
                ),
            ),
        })
        .unwrap_or_else(page_factor);
    let recorded_error_ratio = annotations
        .and_then(|a| a.get(RECORDED_ERROR_RATIO))
        .map(|v| v.value.clone());

    if !at.errors.is_empty() {
        return Err(at.errors);
    }
    let (
        Some(name),
        Some(service),
        Some((numerator_kind, numerator, total)),
        Some(period),
        Some(objectives),
    ) = (name, service, numbers, period, objectives)
    else {
        return Err(at.errors);
    };
    let slo_label = label(metadata, "slo");
    let several = objectives.len() > 1;
    Ok(Some(
        objectives
            .into_iter()
            .enumerate()
            .map(|(i, (objective, objective_name))| SloDefinition {
                name: if several {
                    format!(
                        "{name}-{}",
                        objective_name.clone().unwrap_or((i + 1).to_string())
                    )
                } else {
                    name.clone()
                },
                service: service.clone(),
                slo: slo_label
                    .clone()
                    .or(objective_name)
                    .unwrap_or_else(|| name.clone()),
                objective,
                period,
                numerator_kind,
                numerator: numerator.clone(),
                total: total.clone(),
                min_request_rate,
                recorded_error_ratio: recorded_error_ratio.clone(),
                fast_burn,
                origin: located.file.display().to_string(),
            })
            .collect(),
    ))
}

fn label(metadata: Option<&Metadata>, key: &str) -> Option<String> {
    metadata
        .and_then(|m| m.labels.get(key))
        .and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            // OpenSLO also allows a list of values per label.
            serde_json::Value::Array(a) => a.first().and_then(|v| v.as_str()).map(str::to_owned),
            _ => None,
        })
}

/// `0.05`, or `0.05/s` as environment files write it.
fn parse_rate(text: &str) -> Result<f64, String> {
    let number = text.strip_suffix("/s").unwrap_or(text);
    match number.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
        _ => Err(format!(
            "`{text}` is not a request rate: expected requests per second, e.g. `0.5/s`"
        )),
    }
}

fn indicator_ratio<'a>(
    at: &mut At<'_>,
    spec: &'a Spec,
    spec_line: Option<u64>,
    slis: &'a HashMap<String, (&Located, &Spanned<RatioMetric>)>,
) -> Option<(&'a Spanned<RatioMetric>, &'static str)> {
    if let Some(indicator) = &spec.indicator {
        let Some(ispec) = &indicator.value.spec else {
            return at.error(line(indicator), "spec.indicator.spec", "missing");
        };
        if let Some(r) = &ispec.value.ratio_metric {
            return Some((r, "spec.indicator.spec.ratioMetric"));
        }
        let why = if ispec.value.threshold_metric.is_some() {
            "a `thresholdMetric` is not supported: slo-check needs a Prometheus `ratioMetric`"
        } else {
            "missing: slo-check needs a Prometheus `ratioMetric`"
        };
        return at.error(line(ispec), "spec.indicator.spec.ratioMetric", why);
    }
    if let Some(reference) = &spec.indicator_ref {
        return match slis.get(&reference.value) {
            Some((_, r)) => Some((r, "ratioMetric (of the referenced SLI)")),
            None => at.error(
                line(reference),
                "spec.indicatorRef",
                format!(
                    "no `kind: SLI` named `{}` with a `ratioMetric` among the documents read",
                    reference.value
                ),
            ),
        };
    }
    let _ = &spec.threshold_metric;
    at.error(
        spec_line,
        "spec.indicator",
        "missing: an SLO needs an `indicator` (or an `indicatorRef`) with a Prometheus `ratioMetric`",
    )
}

fn ratio_exprs(
    at: &mut At<'_>,
    (ratio, key): (&Spanned<RatioMetric>, &'static str),
) -> Option<(Numerator, CounterExpr, CounterExpr)> {
    let r = &ratio.value;
    if r.raw.is_some() {
        return at.error(
            line(ratio),
            &format!("{key}.raw"),
            "a `raw` ratio is not supported: give `good` or `bad` and `total`",
        );
    }
    let Some(counter) = &r.counter else {
        return at.error(
            line(ratio),
            &format!("{key}.counter"),
            "missing: `true` when the queries select counters, `false` when they count events over `$window`",
        );
    };
    let (kind, numerator, numerator_key) = match (&r.good, &r.bad) {
        (Some(g), None) => (Numerator::Good, g, "good"),
        (None, Some(b)) => (Numerator::Bad, b, "bad"),
        (Some(_), Some(b)) => {
            return at.error(
                line(b),
                &format!("{key}.bad"),
                "give `good` or `bad`, not both",
            );
        }
        (None, None) => {
            return at.error(
                line(ratio),
                &format!("{key}.good"),
                "missing: give `good` or `bad`",
            );
        }
    };
    let Some(total) = &r.total else {
        return at.error(line(ratio), &format!("{key}.total"), "missing");
    };
    let n = query(
        at,
        numerator,
        &format!("{key}.{numerator_key}"),
        counter.value,
    );
    let t = query(at, total, &format!("{key}.total"), counter.value);
    Some((kind, n?, t?))
}

fn query(
    at: &mut At<'_>,
    metric: &Spanned<MetricRef>,
    key: &str,
    counter: bool,
) -> Option<CounterExpr> {
    let key = format!("{key}.metricSource");
    let Some(source) = &metric.value.metric_source else {
        return at.error(line(metric), &key, "missing");
    };
    let src = &source.value;
    if let Some(r) = &src.metric_source_ref {
        return at.error(
            line(r),
            &format!("{key}.metricSourceRef"),
            "data source references are not supported: give `type: Prometheus` and `spec.query` inline",
        );
    }
    match &src.kind {
        Some(t) if t.value.eq_ignore_ascii_case("prometheus") => {}
        Some(t) => {
            return at.error(
                line(t),
                &format!("{key}.type"),
                format!(
                    "`{}` is not supported: slo-check reads `Prometheus` metrics",
                    t.value
                ),
            );
        }
        None => {
            return at.error(
                line(source),
                &format!("{key}.type"),
                "missing: expected `Prometheus`",
            );
        }
    }
    let query = src.spec.as_ref().and_then(|s| s.value.get("query"));
    let Some(q) = query else {
        return at.error(
            src.spec.as_ref().and_then(line).or(line(source)),
            &format!("{key}.spec.query"),
            "missing",
        );
    };
    let Some(text) = q.value.as_str() else {
        return at.error(
            line(q),
            &format!("{key}.spec.query"),
            "expected a PromQL string",
        );
    };
    let parsed = if counter {
        CounterExpr::counters(text.trim())
    } else {
        CounterExpr::template(text.trim())
    };
    match parsed {
        Ok(e) => Some(e),
        Err(e) => at.error(line(q), &format!("{key}.spec.query"), e),
    }
}

fn time_window(at: &mut At<'_>, spec: &Spec, spec_line: Option<u64>) -> Option<Span> {
    let Some(windows) = &spec.time_window else {
        return at.error(
            spec_line,
            "spec.timeWindow",
            "missing: the SLO period, e.g. `duration: 30d`",
        );
    };
    let [window] = windows.value.as_slice() else {
        return at.error(
            line(windows),
            "spec.timeWindow",
            "expected exactly one time window",
        );
    };
    if window.value.is_rolling == Some(false) {
        return at.error(
            line(window),
            "spec.timeWindow[0].isRolling",
            "calendar windows are not supported: slo-check measures the budget over a rolling period",
        );
    }
    let Some(duration) = &window.value.duration else {
        return at.error(line(window), "spec.timeWindow[0].duration", "missing");
    };
    match duration.value.parse::<Span>() {
        Ok(s) => Some(s),
        Err(e) => at.error(line(duration), "spec.timeWindow[0].duration", e),
    }
}

fn objectives(
    at: &mut At<'_>,
    spec: &Spec,
    spec_line: Option<u64>,
) -> Option<Vec<(f64, Option<String>)>> {
    let Some(list) = &spec.objectives else {
        return at.error(
            spec_line,
            "spec.objectives",
            "missing: at least one objective with a `target`",
        );
    };
    if list.value.is_empty() {
        return at.error(
            line(list),
            "spec.objectives",
            "empty: at least one objective with a `target`",
        );
    }
    let mut out = Vec::new();
    for (i, o) in list.value.iter().enumerate() {
        let key = format!("spec.objectives[{i}]");
        let target = match (&o.value.target, &o.value.target_percent) {
            (Some(t), None) => Some((t.value, line(t), "target")),
            (None, Some(p)) => Some((p.value / 100.0, line(p), "targetPercent")),
            (Some(_), Some(p)) => {
                at.error(line(p), &key, "give `target` or `targetPercent`, not both")
            }
            (None, None) => at.error(line(o), &format!("{key}.target"), "missing"),
        };
        if let Some((t, l, field)) = target {
            if !(t > 0.0 && t < 1.0) {
                at.error::<()>(
                    l,
                    &format!("{key}.{field}"),
                    "must be between 0 and 1 (0% and 100%), both excluded: a 100% objective has no error budget",
                );
            } else {
                let name = o.value.name.clone().or(o.value.display_name.clone());
                out.push((t, name));
            }
        }
    }
    (out.len() == list.value.len()).then_some(out)
}
