//! OpenSLO v1 as people write it: `SLO` documents with an inline `indicator` or an
//! `indicatorRef` to an `SLI` anywhere among the files read, whose metrics name a
//! `DataSource` (`metricSourceRef`) or carry their source inline. `Service`,
//! `AlertPolicy` and the other kinds are skipped with a note. Anything a Prometheus
//! cannot answer is an error naming the file, line, key and the feature, reported
//! against the document it is written in, every problem at once.

use std::collections::HashMap;

use kubestore_core::model::slo::page_factor;
use kubestore_core::slo_check::annotations::{FAST_BURN, MIN_REQUEST_RATE, RECORDED_ERROR_RATIO};

use crate::calendar::Calendar;
use crate::definition::{Budgeting, Numerator, SloDefinition, Sources, Threshold};
use crate::error::SpecError;
use crate::load::Document;
use crate::promql::CounterExpr;
use crate::span::Span;
use crate::yaml::Node;

/// The `apiVersion` read.
pub const API_VERSION: &str = "openslo/v1";

/// Metric source types whose queries are PromQL a Prometheus-compatible server answers.
const PROMETHEUS_TYPES: [&str; 6] = [
    "prometheus",
    "thanos",
    "cortex",
    "mimir",
    "victoriametrics",
    "amazonprometheus",
];

/// Kinds that hold no SLO of their own.
const SKIPPED_KINDS: [&str; 4] = [
    "Service",
    "AlertPolicy",
    "AlertCondition",
    "AlertNotificationTarget",
];

/// What the OpenSLO documents held.
#[derive(Debug, Default)]
pub struct Read {
    /// The SLOs (one per objective).
    pub slos: Vec<SloDefinition>,
    /// Documents skipped, one line each.
    pub notes: Vec<String>,
    /// Every problem, each once.
    pub errors: Vec<SpecError>,
}

/// Documents that others refer to by name.
struct Index<'a> {
    slis: HashMap<&'a str, Document<'a>>,
    sources: HashMap<&'a str, Document<'a>>,
}

/// What the readers of indicators and metrics share: the documents referred to, and
/// the problems found.
struct Cx<'c, 'a> {
    index: &'c Index<'a>,
    errors: &'c mut Errors,
}

/// Reads every OpenSLO document of a run together, so references cross files.
pub fn read(docs: &[Document<'_>]) -> Read {
    let mut out = Read::default();
    let mut index = Index {
        slis: HashMap::new(),
        sources: HashMap::new(),
    };
    let mut slos = Vec::new();
    for doc in docs {
        let mut errors = Errors::default();
        let Some(kind) = header(doc, &mut errors) else {
            out.errors.extend(errors.0);
            continue;
        };
        match kind {
            "SLO" => slos.push(*doc),
            "SLI" | "DataSource" => match name_of(doc) {
                Some(name) => {
                    let map = if kind == "SLI" {
                        &mut index.slis
                    } else {
                        &mut index.sources
                    };
                    if let Some(first) = map.insert(name, *doc) {
                        out.errors.push(doc.error(
                            doc.root.get("metadata").unwrap_or(doc.root),
                            "metadata.name",
                            format!(
                                "{kind} `{name}` is defined twice (first at {})",
                                first.place()
                            ),
                        ));
                    }
                }
                None => out.errors.push(doc.error(
                    doc.root,
                    "metadata.name",
                    format!("missing: every {kind} needs a name others refer to it by"),
                )),
            },
            k if SKIPPED_KINDS.contains(&k) => out.notes.push(format!(
                "{}: skipped OpenSLO `{k}` `{}`: it holds no SLO to evaluate",
                doc.place(),
                name_of(doc).unwrap_or("")
            )),
            other => out.errors.push(doc.error(
                doc.root.get("kind").unwrap_or(doc.root),
                "kind",
                format!(
                    "`{other}` is not an OpenSLO v1 kind: expected SLO, SLI, DataSource, Service, \
                     AlertPolicy, AlertCondition or AlertNotificationTarget"
                ),
            )),
        }
    }
    for doc in slos {
        let mut errors = Errors::default();
        let defs = slo(&doc, &index, &mut errors);
        out.errors.extend(errors.0);
        out.slos.extend(defs);
    }
    // An SLI or DataSource used by several SLOs reports its problems once.
    let mut seen = Vec::new();
    out.errors.retain(|e| {
        if seen.contains(e) {
            false
        } else {
            seen.push(e.clone());
            true
        }
    });
    out
}

/// Problems found so far; `None` where a value could not be read.
#[derive(Default)]
struct Errors(Vec<SpecError>);

impl Errors {
    fn at<T>(
        &mut self,
        doc: &Document<'_>,
        node: &Node,
        key: &str,
        message: impl Into<String>,
    ) -> Option<T> {
        self.0.push(doc.error(node, key, message));
        None
    }
}

fn name_of<'a>(doc: &Document<'a>) -> Option<&'a str> {
    doc.root
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Node::as_str)
}

/// The document's kind, once its `apiVersion` is one slo-check reads.
fn header<'a>(doc: &Document<'a>, errors: &mut Errors) -> Option<&'a str> {
    let version = doc.root.get("apiVersion")?;
    match version.as_str() {
        Some(API_VERSION) => {}
        Some(v) => {
            return errors.at(
                doc,
                version,
                "apiVersion",
                format!("`{v}` is not supported: slo-check reads `{API_VERSION}`"),
            );
        }
        None => return errors.at(doc, version, "apiVersion", "expected a string"),
    }
    match doc.root.get("kind") {
        Some(k) => match k.as_str() {
            Some(kind) => Some(kind),
            None => errors.at(doc, k, "kind", "expected a string such as `SLO`"),
        },
        None => errors.at(doc, doc.root, "kind", "missing: expected e.g. `kind: SLO`"),
    }
}

/// `node` under `key`, or an error when it is missing or not a mapping.
fn mapping<'a>(
    doc: &Document<'_>,
    parent: &'a Node,
    key: &str,
    path: &str,
    errors: &mut Errors,
) -> Option<&'a Node> {
    match parent.get(key) {
        Some(n) if n.as_map().is_some() => Some(n),
        Some(n) => errors.at(
            doc,
            n,
            path,
            format!("expected a mapping, found {}", n.kind()),
        ),
        None => errors.at(doc, parent, path, "missing"),
    }
}

/// A string under `key`, or an error when it is present with another shape.
fn optional_str<'a>(
    doc: &Document<'_>,
    parent: &'a Node,
    key: &str,
    path: &str,
    errors: &mut Errors,
) -> Option<&'a str> {
    let n = parent.get(key)?;
    match n.as_str() {
        Some(s) => Some(s),
        None if n.is_null() => None,
        None => errors.at(
            doc,
            n,
            path,
            format!("expected a string, found {}", n.kind()),
        ),
    }
}

/// The SLO definitions of one `kind: SLO` document, one per objective.
fn slo(doc: &Document<'_>, index: &Index<'_>, errors: &mut Errors) -> Vec<SloDefinition> {
    let before = errors.0.len();
    let root = doc.root;
    let metadata = mapping(doc, root, "metadata", "metadata", errors);
    let name = metadata.and_then(|m| match m.get("name") {
        Some(n) => match n.as_str() {
            Some(s) => Some(s.to_owned()),
            None => errors.at(doc, n, "metadata.name", "expected a string"),
        },
        None => errors.at(doc, m, "metadata.name", "missing: every SLO needs a name"),
    });
    let Some(spec) = mapping(doc, root, "spec", "spec", errors) else {
        return Vec::new();
    };
    let service = optional_str(doc, spec, "service", "spec.service", errors)
        .map(str::to_owned)
        .or_else(|| label(metadata, "service"))
        .or_else(|| {
            errors.at(
                doc,
                spec,
                "spec.service",
                "missing: which service the SLO is for",
            )
        });
    let period = time_window(doc, spec, errors);
    let method = budgeting_method(doc, spec, errors);
    let objectives = objectives(doc, spec, method, errors);
    // The SLO's own indicator serves every objective that does not name one.
    let required = objectives.is_empty() || objectives.iter().any(|o| o.indicator.is_none());
    let slo_indicator = indicator(doc, spec, required, &mut Cx { index, errors });

    let annotations = metadata.and_then(|m| m.get("annotations"));
    let annotation = |key: &str| annotations.and_then(|a| a.get(key));
    let min_request_rate = annotation(MIN_REQUEST_RATE).and_then(|v| {
        let text = v.scalar_text().unwrap_or_default();
        match parse_rate(&text) {
            Ok(rate) => Some(rate),
            Err(e) => errors.at(
                doc,
                v,
                &format!("metadata.annotations.{MIN_REQUEST_RATE}"),
                e,
            ),
        }
    });
    let fast_burn = annotation(FAST_BURN)
        .and_then(|v| match v.as_f64() {
            Some(f) if f > 0.0 => Some(f),
            _ => errors.at(
                doc,
                v,
                &format!("metadata.annotations.{FAST_BURN}"),
                format!(
                    "`{}` is not a burn-rate factor (a positive number, e.g. `14.4`)",
                    v.scalar_text().unwrap_or_default()
                ),
            ),
        })
        .unwrap_or_else(page_factor);
    let recorded_error_ratio = annotation(RECORDED_ERROR_RATIO).and_then(Node::scalar_text);

    let mut resolved = Vec::new();
    for o in &objectives {
        let ratio = match &o.indicator {
            Some((node, key)) => indicator_at(doc, node, key, &mut Cx { index, errors }),
            None => slo_indicator.clone(),
        };
        // A threshold is judged per time slice, where a Prometheus can answer it.
        if ratio.as_ref().is_some_and(|r| r.threshold) {
            if o.threshold.is_none() {
                errors.at::<()>(
                    doc,
                    o.node,
                    &format!("{}.op", o.key),
                    "missing: a `thresholdMetric` objective needs `op` (lt, lte, gt or gte) and `value`",
                );
            }
            if !matches!(o.budgeting, Some(Budgeting::Timeslices { .. })) {
                errors.at::<()>(
                    doc,
                    spec.get("budgetingMethod").unwrap_or(spec),
                    "spec.budgetingMethod",
                    "a `thresholdMetric` is judged per time slice: slo-check evaluates it with `Timeslices`",
                );
            }
        }
        // A precomputed ratio has no events to slice: only its value over a range.
        if ratio
            .as_ref()
            .is_some_and(|r| r.kind == Numerator::ErrorRatio)
            && !matches!(o.budgeting, Some(Budgeting::Occurrences) | None)
        {
            errors.at::<()>(
                doc,
                spec.get("budgetingMethod").unwrap_or(spec),
                "spec.budgetingMethod",
                "a `raw` ratio is judged over the window and the SLO period: slo-check \
                 evaluates it with `Occurrences`",
            );
        }
        resolved.push(ratio);
    }
    if errors.0.len() > before {
        return Vec::new();
    }
    let (Some(name), Some(service), Some((period, calendar))) = (name, service, period) else {
        return Vec::new();
    };
    let slo_label = label(metadata, "slo");
    let several = objectives.len() > 1;
    objectives
        .into_iter()
        .zip(resolved)
        .enumerate()
        .filter_map(|(i, (objective, ratio))| {
            let ratio = ratio?;
            let budgeting = objective.budgeting?;
            Some(SloDefinition {
                name: if several {
                    format!(
                        "{name}-{}",
                        objective.name.clone().unwrap_or((i + 1).to_string())
                    )
                } else {
                    name.clone()
                },
                service: service.clone(),
                slo: slo_label
                    .clone()
                    .or(objective.name)
                    .unwrap_or_else(|| name.clone()),
                objective: objective.target,
                period,
                calendar: calendar.clone(),
                budgeting,
                threshold: objective.threshold.filter(|_| ratio.threshold),
                grouping: Vec::new(),
                numerator_kind: ratio.kind,
                numerator: ratio.numerator,
                total: ratio.total,
                min_request_rate,
                recorded_error_ratio: recorded_error_ratio.clone(),
                fast_burn,
                origin: doc.origin(),
                named_at: metadata
                    .and_then(|m| m.get("name"))
                    .map(|n| (n.line, "metadata.name".to_owned())),
                sources: ratio.sources,
                prometheus_url: ratio.url,
            })
        })
        .collect()
}

fn label(metadata: Option<&Node>, key: &str) -> Option<String> {
    let v = metadata?.get("labels")?.get(key)?;
    // OpenSLO also allows a list of values per label.
    v.as_str()
        .map(str::to_owned)
        .or_else(|| v.as_seq()?.first()?.as_str().map(str::to_owned))
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

/// A ratio resolved to its queries.
#[derive(Clone)]
struct Ratio {
    /// A `thresholdMetric`'s value rather than a ratio of events.
    threshold: bool,
    kind: Numerator,
    numerator: CounterExpr,
    total: CounterExpr,
    sources: Sources,
    url: Option<String>,
}

impl Ratio {
    /// A ratio answered by one query, which stands as its own total since no count of
    /// events is behind it.
    fn of_one(m: Metric, threshold: bool, kind: Numerator) -> Self {
        Ratio {
            threshold,
            kind,
            numerator: m.expr.clone(),
            total: m.expr,
            sources: Sources {
                numerator: m.from.clone(),
                total: m.from,
            },
            url: m.url,
        }
    }
}

/// The indicator of the SLO's `spec` (`indicator` or `indicatorRef`); `required` is
/// false when every objective names its own.
fn indicator(
    doc: &Document<'_>,
    spec: &Node,
    required: bool,
    cx: &mut Cx<'_, '_>,
) -> Option<Ratio> {
    if spec.get("indicator").is_some() || spec.get("indicatorRef").is_some() {
        return indicator_at(doc, spec, "spec", cx);
    }
    if required {
        cx.errors.at(
            doc,
            spec,
            "spec.indicator",
            "missing: an SLO needs an `indicator` (or an `indicatorRef` to an SLI)",
        )
    } else {
        None
    }
}

/// The `indicator` or `indicatorRef` under `holder` (the SLO's spec or an objective).
fn indicator_at(
    doc: &Document<'_>,
    holder: &Node,
    path: &str,
    cx: &mut Cx<'_, '_>,
) -> Option<Ratio> {
    match (holder.get("indicator"), holder.get("indicatorRef")) {
        (Some(_), Some(r)) => cx.errors.at(
            doc,
            r,
            &format!("{path}.indicatorRef"),
            "give `indicator` or `indicatorRef`, not both",
        ),
        (Some(inline), None) => {
            let key = format!("{path}.indicator.spec");
            let ispec = mapping(doc, inline, "spec", &key, cx.errors)?;
            sli_spec(doc, ispec, &key, cx)
        }
        (None, Some(r)) => {
            let key = format!("{path}.indicatorRef");
            let sli = referenced(doc, r, &key, &cx.index.slis, "SLI", cx.errors)?;
            // Problems inside the SLI are its own file's, with its lines.
            let ispec = mapping(&sli, sli.root, "spec", "spec", cx.errors)?;
            sli_spec(&sli, ispec, "spec", cx)
        }
        (None, None) => cx.errors.at(
            doc,
            holder,
            &format!("{path}.indicator"),
            "missing: an `indicator` or an `indicatorRef`",
        ),
    }
}

/// The document of `kind` a reference (`r`, at `key`) names.
fn referenced<'a>(
    doc: &Document<'_>,
    r: &Node,
    key: &str,
    documents: &HashMap<&str, Document<'a>>,
    kind: &str,
    errors: &mut Errors,
) -> Option<Document<'a>> {
    let Some(wanted) = r.as_str() else {
        return errors.at(doc, r, key, format!("expected the name of a {kind}"));
    };
    match documents.get(wanted) {
        Some(found) => Some(*found),
        None => errors.at(
            doc,
            r,
            key,
            format!("no `kind: {kind}` named `{wanted}` among the documents read"),
        ),
    }
}

/// An SLI's spec (`ratioMetric` or `thresholdMetric`), in `doc`.
fn sli_spec(doc: &Document<'_>, spec: &Node, path: &str, cx: &mut Cx<'_, '_>) -> Option<Ratio> {
    if let Some(ratio) = spec.get("ratioMetric") {
        return ratio_metric(doc, ratio, &format!("{path}.ratioMetric"), cx);
    }
    if let Some(t) = spec.get("thresholdMetric") {
        let key = format!("{path}.thresholdMetric");
        let m = metric(doc, t, &key, Some(Shape::Value), cx)?;
        return Some(Ratio::of_one(m, true, Numerator::Good));
    }
    cx.errors.at(
        doc,
        spec,
        &format!("{path}.ratioMetric"),
        "missing: an SLI needs a `ratioMetric` or a `thresholdMetric`",
    )
}

fn ratio_metric(doc: &Document<'_>, ratio: &Node, key: &str, cx: &mut Cx<'_, '_>) -> Option<Ratio> {
    if ratio.as_map().is_none() {
        return cx.errors.at(
            doc,
            ratio,
            key,
            format!("expected a mapping, found {}", ratio.kind()),
        );
    }
    if let Some(raw) = ratio.get("raw") {
        return raw_ratio(doc, ratio, raw, key, cx);
    }
    let counter = match ratio.get("counter") {
        Some(c) => match c.as_bool() {
            Some(b) => Some(if b { Shape::Counters } else { Shape::Counting }),
            None => cx.errors.at(
                doc,
                c,
                &format!("{key}.counter"),
                format!("expected `true` or `false`, found {}", c.kind()),
            ),
        },
        None => cx.errors.at(
            doc,
            ratio,
            &format!("{key}.counter"),
            "missing: `true` when the queries select counters, `false` when they count \
             events over the window themselves",
        ),
    };
    let (kind, side, numerator_node) = match (ratio.get("good"), ratio.get("bad")) {
        (Some(g), None) => (Numerator::Good, "good", g),
        (None, Some(b)) => (Numerator::Bad, "bad", b),
        (Some(_), Some(b)) => {
            return cx.errors.at(
                doc,
                b,
                &format!("{key}.bad"),
                "give `good` or `bad`, not both",
            );
        }
        (None, None) => {
            return cx.errors.at(
                doc,
                ratio,
                &format!("{key}.good"),
                "missing: give `good` or `bad`",
            );
        }
    };
    let total_node = ratio.get("total");
    if total_node.is_none() {
        cx.errors
            .at::<()>(doc, ratio, &format!("{key}.total"), "missing");
    }
    let numerator = metric(doc, numerator_node, &format!("{key}.{side}"), counter, cx);
    let total = total_node.and_then(|t| metric(doc, t, &format!("{key}.total"), counter, cx));
    let (numerator, total) = (numerator?, total?);
    Some(Ratio {
        threshold: false,
        kind,
        url: numerator.url.or(total.url),
        numerator: numerator.expr,
        total: total.expr,
        sources: Sources {
            numerator: numerator.from,
            total: total.from,
        },
    })
}

/// A `ratioMetric` given as a precomputed ratio (`raw` with `rawType`), judged like
/// Sloth's `error_ratio_query`: a `failure` ratio as written, a `success` ratio as
/// `1 - (query)`.
fn raw_ratio(
    doc: &Document<'_>,
    ratio: &Node,
    raw: &Node,
    key: &str,
    cx: &mut Cx<'_, '_>,
) -> Option<Ratio> {
    for side in ["good", "bad", "total"] {
        if let Some(n) = ratio.get(side) {
            cx.errors.at::<()>(
                doc,
                n,
                &format!("{key}.{side}"),
                "give `raw` (with `rawType`) or `good`/`bad` and `total`, not both",
            );
        }
    }
    if let Some(c) = ratio.get("counter")
        && c.as_bool() != Some(false)
    {
        cx.errors.at::<()>(
            doc,
            c,
            &format!("{key}.counter"),
            "a `raw` ratio is computed over the window by its query, not read from counters: \
             set `counter: false`",
        );
    }
    let type_key = format!("{key}.rawType");
    let shape = match ratio.get("rawType") {
        None => cx.errors.at(
            doc,
            ratio,
            &type_key,
            "missing: a `raw` ratio needs `rawType: success` (the share of good events) or \
             `failure` (the error ratio)",
        ),
        Some(t) => match t.as_str() {
            Some("failure") => Some(Shape::ErrorRatio),
            Some("success") => Some(Shape::SuccessRatio),
            _ => cx.errors.at(
                doc,
                t,
                &type_key,
                format!(
                    "`{}` is not a `rawType`: expected `success` (the share of good events) or \
                     `failure` (the error ratio)",
                    t.scalar_text().unwrap_or_else(|| t.kind().to_owned())
                ),
            ),
        },
    };
    let m = metric(doc, raw, &format!("{key}.raw"), shape, cx)?;
    Some(Ratio::of_one(m, false, Numerator::ErrorRatio))
}

/// How a metric's query is read.
#[derive(Clone, Copy)]
enum Shape {
    /// `counter: true`: it selects counters.
    Counters,
    /// `counter: false`: it counts events over the window placeholder.
    Counting,
    /// A `thresholdMetric`: a value judged as it is.
    Value,
    /// A `raw` ratio of `rawType: failure`: the error ratio over the window placeholder.
    ErrorRatio,
    /// A `raw` ratio of `rawType: success`: the share of good events, likewise.
    SuccessRatio,
}

/// One metric's query, its data source's URL and where it was written.
struct Metric {
    expr: CounterExpr,
    url: Option<String>,
    from: String,
}

fn metric(
    doc: &Document<'_>,
    node: &Node,
    key: &str,
    shape: Option<Shape>,
    cx: &mut Cx<'_, '_>,
) -> Option<Metric> {
    let key = format!("{key}.metricSource");
    let source = match node.get("metricSource") {
        Some(s) if s.as_map().is_some() => s,
        Some(s) => {
            return cx.errors.at(
                doc,
                s,
                &key,
                format!("expected a mapping, found {}", s.kind()),
            );
        }
        None => return cx.errors.at(doc, node, &key, "missing"),
    };
    let mut url = None;
    // The type, the node it is written at, and the document and key of that node: the
    // metric's own, or its DataSource's.
    let mut source_type =
        optional_str(doc, source, "type", &format!("{key}.type"), cx.errors).map(|t| {
            (
                t.to_owned(),
                source.get("type").unwrap_or(source),
                *doc,
                format!("{key}.type"),
            )
        });
    if let Some(r) = source.get("metricSourceRef") {
        let ref_key = format!("{key}.metricSourceRef");
        let ds = referenced(doc, r, &ref_key, &cx.index.sources, "DataSource", cx.errors)?;
        let ds_spec = mapping(&ds, ds.root, "spec", "spec", cx.errors)?;
        let ds_type = optional_str(&ds, ds_spec, "type", "spec.type", cx.errors);
        // The source's own type decides what can answer; a metric that repeats it
        // inline is read the same way.
        if let Some(t) = ds_type {
            source_type = Some((
                t.to_owned(),
                ds_spec.get("type").unwrap_or(ds_spec),
                ds,
                "spec.type".to_owned(),
            ));
        }
        url = ds_spec
            .get("connectionDetails")
            .and_then(|c| c.get("url").or_else(|| c.get("address")))
            .and_then(Node::as_str)
            .map(str::to_owned);
        if source_type.is_none() {
            return cx.errors.at(
                &ds,
                ds_spec,
                "spec.type",
                "missing: the source's type, e.g. `Prometheus`",
            );
        }
    }
    match &source_type {
        Some((t, _, _, _)) if PROMETHEUS_TYPES.contains(&t.to_ascii_lowercase().as_str()) => {}
        Some((t, node, at, at_key)) => {
            return cx.errors.at(
                at,
                node,
                at_key,
                format!(
                    "a `{t}` source is not supported: slo-check asks a Prometheus-compatible \
                     server (type Prometheus, Thanos, Cortex, Mimir or VictoriaMetrics)"
                ),
            );
        }
        None => {
            return cx.errors.at(
                doc,
                source,
                &format!("{key}.type"),
                "missing: expected `Prometheus` (or a `metricSourceRef` to a DataSource)",
            );
        }
    }
    let spec = mapping(doc, source, "spec", &format!("{key}.spec"), cx.errors)?;
    let (field, q) = match (spec.get("query"), spec.get("promql")) {
        (Some(q), _) => ("query", q),
        (None, Some(q)) => ("promql", q),
        (None, None) => {
            return cx
                .errors
                .at(doc, spec, &format!("{key}.spec.query"), "missing");
        }
    };
    let qkey = format!("{key}.spec.{field}");
    let Some(text) = q.as_str() else {
        return cx.errors.at(
            doc,
            q,
            &qkey,
            format!("expected a PromQL string, found {}", q.kind()),
        );
    };
    let parsed = match shape? {
        Shape::Counters => CounterExpr::counters(text.trim()),
        Shape::Counting => CounterExpr::template(text.trim()),
        Shape::Value => CounterExpr::value(text.trim()),
        Shape::ErrorRatio => crate::window::ratio(text.trim()),
        Shape::SuccessRatio => crate::window::success_ratio(text.trim()),
    };
    match parsed {
        Ok(expr) => Some(Metric {
            expr,
            url,
            from: doc.source(q, &qkey),
        }),
        Err(e) => cx.errors.at(doc, q, &qkey, e),
    }
}

fn time_window(
    doc: &Document<'_>,
    spec: &Node,
    errors: &mut Errors,
) -> Option<(Span, Option<Calendar>)> {
    let Some(windows) = spec.get("timeWindow") else {
        return errors.at(
            doc,
            spec,
            "spec.timeWindow",
            "missing: the SLO period, e.g. `- duration: 28d` with `isRolling: true`",
        );
    };
    let Some(list) = windows.as_seq() else {
        return errors.at(
            doc,
            windows,
            "spec.timeWindow",
            format!("expected a list of one window, found {}", windows.kind()),
        );
    };
    let [window] = list else {
        return errors.at(
            doc,
            windows,
            "spec.timeWindow",
            "expected exactly one time window",
        );
    };
    let key = "spec.timeWindow[0]";
    if window.as_map().is_none() {
        return errors.at(
            doc,
            window,
            key,
            format!("expected a mapping, found {}", window.kind()),
        );
    }
    if let Some(r) = window.get("isRolling")
        && r.as_bool().is_none()
    {
        errors.at::<()>(
            doc,
            r,
            &format!("{key}.isRolling"),
            format!("expected `true` or `false`, found {}", r.kind()),
        );
    }
    let Some(duration) = window.get("duration") else {
        return errors.at(doc, window, &format!("{key}.duration"), "missing");
    };
    let text = duration.scalar_text().unwrap_or_default();
    if window.get("isRolling").and_then(Node::as_bool) == Some(false) {
        let ckey = format!("{key}.calendar");
        let calendar = mapping(doc, window, "calendar", &ckey, errors)?;
        let start_key = format!("{ckey}.startTime");
        let Some(start) = calendar.get("startTime") else {
            return errors.at(
                doc,
                calendar,
                &start_key,
                "missing: when the first period begins, e.g. `2022-01-01 00:00:00`",
            );
        };
        let zone = optional_str(
            doc,
            calendar,
            "timeZone",
            &format!("{ckey}.timeZone"),
            errors,
        );
        let start_text = start.scalar_text().unwrap_or_default();
        return match Calendar::new(&text, &start_text, zone) {
            Ok(c) => {
                // The nominal length, for reports; each evaluation measures its own period.
                let length = c
                    .period(c.origin())
                    .map(|(s, e)| Span::from_secs((e - s) as u64));
                Some((length.unwrap_or(Span::from_secs(1)), Some(c)))
            }
            Err(e) => {
                let (node, k) = if e.contains("time zone") {
                    (
                        calendar.get("timeZone").unwrap_or(calendar),
                        format!("{ckey}.timeZone"),
                    )
                } else if e.contains("start time") {
                    (start, start_key)
                } else {
                    (duration, format!("{key}.duration"))
                };
                errors.at(doc, node, &k, e)
            }
        };
    }
    match text.parse::<Span>() {
        Ok(s) => Some((s, None)),
        Err(_) if text.ends_with('M') || text.ends_with('Q') => errors.at(
            doc,
            duration,
            &format!("{key}.duration"),
            format!(
                "`{text}`: months and quarters have no fixed length, so a rolling window is \
                 written in days or weeks (e.g. `28d`)"
            ),
        ),
        Err(e) => errors.at(doc, duration, &format!("{key}.duration"), e),
    }
}

/// The budgeting method, when it is one of OpenSLO's.
fn budgeting_method<'a>(
    doc: &Document<'_>,
    spec: &'a Node,
    errors: &mut Errors,
) -> Option<&'a str> {
    let Some(m) = spec.get("budgetingMethod") else {
        return errors.at(
            doc,
            spec,
            "spec.budgetingMethod",
            "missing: `Occurrences`, `Timeslices` or `RatioTimeslices`",
        );
    };
    match m.as_str() {
        Some(method @ ("Occurrences" | "Timeslices" | "RatioTimeslices")) => Some(method),
        _ => errors.at(
            doc,
            m,
            "spec.budgetingMethod",
            format!(
                "`{}` is not a budgeting method: expected `Occurrences`, `Timeslices` or `RatioTimeslices`",
                m.scalar_text().unwrap_or_else(|| m.kind().to_owned())
            ),
        ),
    }
}

/// How objective `o` (at `key`) counts its budget under `method`.
fn budgeting(
    doc: &Document<'_>,
    o: &Node,
    key: &str,
    method: &str,
    errors: &mut Errors,
) -> Option<Budgeting> {
    let slice = |errors: &mut Errors| {
        let k = format!("{key}.timeSliceWindow");
        let Some(w) = o.get("timeSliceWindow") else {
            return errors.at(
                doc,
                o,
                &k,
                format!("missing: `{method}` needs the slice, e.g. `1m`"),
            );
        };
        let text = w.scalar_text().unwrap_or_default();
        // A bare number is seconds.
        let text = if text.bytes().all(|b| b.is_ascii_digit()) {
            format!("{text}s")
        } else {
            text
        };
        match text.parse::<Span>() {
            Ok(s) => Some(s),
            Err(e) => errors.at(doc, w, &k, e),
        }
    };
    match method {
        "Timeslices" => {
            let k = format!("{key}.timeSliceTarget");
            let target = match o.get("timeSliceTarget") {
                None => errors.at(doc, o, &k, "missing: `Timeslices` needs the ratio a slice must reach to be good, e.g. `0.95`"),
                Some(t) => match t.as_f64() {
                    Some(v) if v > 0.0 && v <= 1.0 => Some(v),
                    _ => errors.at(doc, t, &k, "must be a ratio above 0 and at most 1"),
                },
            };
            let slice = slice(errors);
            Some(Budgeting::Timeslices {
                target: target?,
                slice: slice?,
            })
        }
        "RatioTimeslices" => Some(Budgeting::RatioTimeslices {
            slice: slice(errors)?,
        }),
        _ => Some(Budgeting::Occurrences),
    }
}

/// One objective: its target, its name and, for composite SLOs, its own indicator.
struct Objective<'a> {
    node: &'a Node,
    key: String,
    /// `op` and `value`, for a threshold metric.
    threshold: Option<Threshold>,
    target: f64,
    budgeting: Option<Budgeting>,
    name: Option<String>,
    indicator: Option<(&'a Node, String)>,
}

fn objectives<'a>(
    doc: &Document<'_>,
    spec: &'a Node,
    method: Option<&str>,
    errors: &mut Errors,
) -> Vec<Objective<'a>> {
    let Some(list) = spec.get("objectives") else {
        errors.at::<()>(
            doc,
            spec,
            "spec.objectives",
            "missing: at least one objective with a `target`",
        );
        return Vec::new();
    };
    let Some(items) = list.as_seq() else {
        errors.at::<()>(
            doc,
            list,
            "spec.objectives",
            format!("expected a list, found {}", list.kind()),
        );
        return Vec::new();
    };
    if items.is_empty() {
        errors.at::<()>(
            doc,
            list,
            "spec.objectives",
            "empty: at least one objective with a `target`",
        );
    }
    let mut out = Vec::new();
    for (i, o) in items.iter().enumerate() {
        let key = format!("spec.objectives[{i}]");
        if o.as_map().is_none() {
            errors.at::<()>(
                doc,
                o,
                &key,
                format!("expected a mapping, found {}", o.kind()),
            );
            continue;
        }
        let number = |field: &str, errors: &mut Errors| {
            let n = o.get(field)?;
            match n.as_f64() {
                Some(v) => Some((v, n)),
                None => errors.at(
                    doc,
                    n,
                    &format!("{key}.{field}"),
                    format!("expected a number, found {}", n.kind()),
                ),
            }
        };
        let target = match (number("target", errors), number("targetPercent", errors)) {
            (Some((t, n)), None) => Some((t, n, "target")),
            (None, Some((p, n))) => Some((p / 100.0, n, "targetPercent")),
            (Some(_), Some((_, n))) => {
                errors.at(doc, n, &key, "give `target` or `targetPercent`, not both")
            }
            (None, None) if o.get("target").is_some() || o.get("targetPercent").is_some() => None,
            (None, None) => errors.at(doc, o, &format!("{key}.target"), "missing"),
        };
        let name = ["name", "displayName"]
            .iter()
            .find_map(|k| o.get(k).and_then(Node::scalar_text));
        let indicator = (o.get("indicator").is_some() || o.get("indicatorRef").is_some())
            .then(|| (o, key.clone()));
        let budgeting = method.and_then(|m| budgeting(doc, o, &key, m, errors));
        if let Some((t, n, field)) = target {
            if !(t > 0.0 && t < 1.0) {
                errors.at::<()>(
                    doc,
                    n,
                    &format!("{key}.{field}"),
                    "must be between 0 and 1 (0% and 100%), both excluded: a 100% objective has no error budget",
                );
            } else {
                let threshold = match (o.get("op"), number("value", errors)) {
                    (Some(op), Some((value, _))) => match op.as_str() {
                        Some("lt") => Some(Threshold { op: "<", value }),
                        Some("lte") => Some(Threshold { op: "<=", value }),
                        Some("gt") => Some(Threshold { op: ">", value }),
                        Some("gte") => Some(Threshold { op: ">=", value }),
                        _ => errors.at(
                            doc,
                            op,
                            &format!("{key}.op"),
                            "expected `lt`, `lte`, `gt` or `gte`",
                        ),
                    },
                    _ => None,
                };
                out.push(Objective {
                    node: o,
                    key: key.clone(),
                    threshold,
                    target: t,
                    budgeting,
                    name,
                    indicator,
                });
            }
        }
    }
    out
}
