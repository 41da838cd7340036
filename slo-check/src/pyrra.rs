//! Reading Pyrra's `ServiceLevelObjective` (`pyrra.dev/v1alpha1`): `spec.target` is a
//! percentage (`"99.5"`), `spec.window` the SLO period (`2w`), and `spec.indicator` one
//! of four kinds, each a Prometheus selector that slo-check counts the way Pyrra's own
//! rules do:
//!
//! | indicator | bad or good events over a range `r` | all events |
//! |---|---|---|
//! | `ratio` | bad: `sum(increase(errors[r]))` | `sum(increase(total[r]))` |
//! | `latency` | good: `sum(increase(success[r]))` (a `_bucket{le=...}`) | `sum(increase(total[r]))` (the `_count`) |
//! | `latencyNative` | good: `histogram_fraction(0, latency, ...)` of each series' increase, times its count | `histogram_count` of the increase |
//! | `bool_gauge` | good: samples at 1, `sum_over_time` | samples, `count_over_time` |
//!
//! With `grouping`, every query keeps the groups apart (`sum by (...)`) and each group is
//! judged on its own, as Pyrra does; the SLO takes its worst group's verdict.
//!
//! The service of a Pyrra SLO is its `metadata.labels.service` (or `pyrra.dev/service`,
//! which Pyrra's rules carry as `service`), else its namespace, else its name: Pyrra
//! itself has no such field.

use kubestore_core::model::units::Duration;
use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};

use crate::definition::{Numerator, SloDefinition, Sources};
use crate::error::SpecError;
use crate::fields;
use crate::load::Document;
use crate::promql::{CounterExpr, WINDOW_PLACEHOLDER};
use crate::span::Span;
use crate::yaml::Node;

const INDICATORS: [&str; 4] = ["ratio", "latency", "latencyNative", "bool_gauge"];

/// The SLO of one Pyrra document.
pub fn definitions(doc: &Document<'_>) -> Result<Vec<SloDefinition>, Vec<SpecError>> {
    let root = doc.root;
    let mut errors = Vec::new();
    let metadata = root.get("metadata");
    let name = match metadata {
        Some(m) => fields::text(doc, m, "name", "metadata.name", "the SLO's name")
            .map(|(_, n)| n)
            .map_err(|e| errors.push(e))
            .ok(),
        None => {
            errors.push(doc.error(root, "metadata.name", "missing: the SLO's name"));
            None
        }
    };
    let Some(spec) = root.get("spec").filter(|s| s.as_map().is_some()) else {
        errors.push(doc.error(
            root.get("spec").unwrap_or(root),
            "spec",
            "missing: the target, window and indicator",
        ));
        return Err(errors);
    };
    let objective = fields::objective(doc, spec, "target", "spec.target")
        .map_err(|e| errors.push(e))
        .ok();
    let period = match spec.get("window") {
        Some(w) => match w.as_str().map(str::parse::<Span>) {
            Some(Ok(span)) => Some(span),
            Some(Err(e)) => {
                errors.push(doc.error(w, "spec.window", e));
                None
            }
            None => {
                errors.push(doc.error(
                    w,
                    "spec.window",
                    format!("expected a duration such as `4w`, found {}", w.kind()),
                ));
                None
            }
        },
        None => {
            errors.push(doc.error(spec, "spec.window", "missing: the SLO period, e.g. `4w`"));
            None
        }
    };
    let sli = indicator(doc, spec, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let (Some(name), Some(objective), Some(period), Some((sli, grouping))) =
        (name, objective, period, sli)
    else {
        return Err(errors);
    };
    // Pyrra copies a `pyrra.dev/<name>` label onto its rules as `<name>`, so
    // `pyrra.dev/service` names the service as `service` does.
    let labels = metadata.and_then(|m| m.get("labels"));
    let service = labels
        .and_then(|l| l.get("service").or_else(|| l.get("pyrra.dev/service")))
        .or_else(|| metadata.and_then(|m| m.get("namespace")))
        .and_then(Node::as_str)
        .unwrap_or(name);
    let mut def = fields::definition(
        doc,
        (name.to_owned(), service.to_owned(), name.to_owned()),
        objective,
        period,
        sli,
    );
    def.grouping = grouping;
    def.named_at = metadata
        .and_then(|m| m.get("name"))
        .map(|n| (n.line, "metadata.name".to_owned()));
    Ok(vec![def])
}

fn indicator(
    doc: &Document<'_>,
    spec: &Node,
    errors: &mut Vec<SpecError>,
) -> Option<(fields::Sli, Vec<String>)> {
    let Some(indicator) = spec.get("indicator") else {
        errors.push(doc.error(
            spec,
            "spec.indicator",
            "missing: one of `ratio`, `latency`, `latencyNative` or `bool_gauge`",
        ));
        return None;
    };
    let found = indicator
        .as_map()
        .and_then(|m| m.first())
        .map(|(k, _)| format!(" (found `{k}`)"))
        .unwrap_or_default();
    let kind = fields::one_of(
        doc,
        indicator,
        "spec.indicator",
        &INDICATORS,
        format!("expected one of `ratio`, `latency`, `latencyNative` or `bool_gauge`{found}"),
    )
    .map_err(|e| errors.push(e))
    .ok()?;
    let node = indicator.get(kind)?;
    let key = format!("spec.indicator.{kind}");
    let grouping = match node.get("grouping") {
        None => Vec::new(),
        Some(g) => match g.as_seq().map(|items| {
            items
                .iter()
                .map(|i| i.as_str().filter(|l| is_label_name(l)).map(str::to_owned))
                .collect::<Option<Vec<String>>>()
        }) {
            Some(Some(labels)) => labels,
            _ => {
                errors.push(doc.error(
                    g,
                    &format!("{key}.grouping"),
                    "expected a list of label names, e.g. `[route]`",
                ));
                return None;
            }
        },
    };
    // Each group is a series of every query: `sum by (...)` keeps the groups apart.
    let sum = if grouping.is_empty() {
        "sum".to_owned()
    } else {
        format!("sum by ({}) ", grouping.join(", "))
    };
    let sli = match kind {
        "ratio" | "latency" => {
            let (numerator_field, numerator_kind) = if kind == "ratio" {
                ("errors", Numerator::Bad)
            } else {
                ("success", Numerator::Good)
            };
            let numerator = selector(doc, node, &key, numerator_field, errors);
            let total = selector(doc, node, &key, "total", errors);
            let ((numerator, numerator_from), (total, total_from)) = (numerator?, total?);
            if kind == "latency" {
                let at = node.get("success").and_then(|s| s.get("metric"));
                // Named as written: the selector is rebuilt with its matchers reordered.
                let written = at
                    .and_then(Node::as_str)
                    .map_or(numerator.as_str(), str::trim);
                if let Err(e) = latency_bucket(written) {
                    errors.push(doc.error(at.unwrap_or(node), &format!("{key}.success.metric"), e));
                    return None;
                }
            }
            let numerator = built(doc, node, &key, counters(&sum, &numerator), errors);
            let total = built(doc, node, &key, counters(&sum, &total), errors);
            Some((
                numerator_kind,
                numerator?,
                total?,
                Sources {
                    numerator: numerator_from,
                    total: total_from,
                },
            ))
        }
        "latencyNative" => {
            let total = selector(doc, node, &key, "total", errors);
            let latency = match node.get("latency") {
                Some(l) => match l.as_str().map(Duration::parse) {
                    Some(Ok(d)) if d.millis() > 0 => {
                        Some((d, doc.source(l, &format!("{key}.latency"))))
                    }
                    _ => {
                        errors.push(doc.error(
                            l,
                            &format!("{key}.latency"),
                            "expected the latency threshold as a duration, e.g. `500ms` or `1s`",
                        ));
                        None
                    }
                },
                None => {
                    errors.push(doc.error(
                        node,
                        &format!("{key}.latency"),
                        "missing: the latency threshold, e.g. `500ms`",
                    ));
                    None
                }
            };
            let ((total, from), (latency, latency_from)) = (total?, latency?);
            let seconds = latency.millis() as f64 / 1000.0;
            let w = WINDOW_PLACEHOLDER;
            let good = format!(
                "{sum}(histogram_fraction(0, {seconds}, increase({total}[{w}])) \
                 * histogram_count(increase({total}[{w}])))"
            );
            let all = format!("{sum}(histogram_count(increase({total}[{w}])))");
            let good = built(doc, node, &key, CounterExpr::template(&good), errors);
            let all = built(doc, node, &key, CounterExpr::template(&all), errors);
            Some((
                Numerator::Good,
                good?,
                all?,
                Sources {
                    numerator: format!("{from}, {latency_from}"),
                    total: from,
                },
            ))
        }
        _ => {
            let (gauge, from) = selector_at(doc, node, &key, errors)?;
            let w = WINDOW_PLACEHOLDER;
            let good = CounterExpr::template(&format!("{sum}(sum_over_time({gauge}[{w}]))"));
            let all = CounterExpr::template(&format!("{sum}(count_over_time({gauge}[{w}]))"));
            let good = built(doc, node, &key, good, errors);
            let all = built(doc, node, &key, all, errors);
            Some((
                Numerator::Good,
                good?,
                all?,
                Sources {
                    numerator: from.clone(),
                    total: from,
                },
            ))
        }
    };
    Some((sli?, grouping))
}

/// A latency indicator's good requests are those of one histogram bucket: without an
/// `le` matcher the "fast" requests are every bucket's, or the total's own, which would
/// pass or fail at random. Pyrra refuses the same.
fn latency_bucket(selector: &str) -> Result<(), String> {
    let le = match parser::parse(selector) {
        Ok(Expr::VectorSelector(vs)) => vs.matchers.find_matchers("le"),
        _ => Vec::new(),
    };
    match le.as_slice() {
        [m] if m.op == MatchOp::Equal && m.value.parse::<f64>().is_ok() => Ok(()),
        _ => Err(format!(
            "`{selector}` does not name one histogram bucket: the fast requests are those of \
             a `_bucket` series with `le` equal to the threshold in seconds, e.g. \
             `http_request_duration_seconds_bucket{{job=\"shop\",le=\"0.5\"}}`"
        )),
    }
}

/// `sum(selector)` (or `sum by (...)`), whose increase slo-check takes per series.
fn counters(sum: &str, selector: &str) -> Result<CounterExpr, String> {
    CounterExpr::counters(&format!("{sum}({selector})"))
}

/// A query slo-check built from the indicator, or the problem at the indicator: a
/// selector can still spell something the query cannot hold (a window placeholder in a
/// label value).
fn built(
    doc: &Document<'_>,
    node: &Node,
    key: &str,
    query: Result<CounterExpr, String>,
    errors: &mut Vec<SpecError>,
) -> Option<CounterExpr> {
    query
        .map_err(|e| errors.push(doc.error(node, key, format!("cannot count its events: {e}"))))
        .ok()
}

/// A Prometheus label name: a letter or `_`, then letters, digits and `_`.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The selector at `<node>.<field>.metric`.
fn selector(
    doc: &Document<'_>,
    node: &Node,
    key: &str,
    field: &str,
    errors: &mut Vec<SpecError>,
) -> Option<(String, String)> {
    let key = format!("{key}.{field}");
    let Some(metric) = node.get(field) else {
        errors.push(doc.error(
            node,
            &key,
            "missing: `metric`, a selector such as `http_requests_total{job=\"shop\"}`",
        ));
        return None;
    };
    selector_at(doc, metric, &key, errors)
}

/// The selector at `<node>.metric`: a plain series selector, as Pyrra requires.
fn selector_at(
    doc: &Document<'_>,
    node: &Node,
    key: &str,
    errors: &mut Vec<SpecError>,
) -> Option<(String, String)> {
    let key = format!("{key}.metric");
    let (metric, text) = fields::text(
        doc,
        node,
        "metric",
        &key,
        "a series selector such as `http_requests_total{job=\"shop\"}`",
    )
    .map_err(|e| errors.push(e))
    .ok()?;
    match parser::parse(text) {
        Ok(Expr::VectorSelector(vs)) if vs.offset.is_none() && vs.at.is_none() => {
            Some((vs.to_string(), doc.source(metric, &key)))
        }
        Ok(_) => {
            errors.push(doc.error(
                metric,
                &key,
                format!(
                    "`{text}` is not a plain series selector: Pyrra takes a metric and its labels, \
                     e.g. `http_requests_total{{job=\"shop\"}}`"
                ),
            ));
            None
        }
        Err(e) => {
            errors.push(doc.error(metric, &key, format!("not valid PromQL: {e}")));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn read(text: &str) -> SloDefinition {
        let root: Node = serde_saphyr::from_str(text).unwrap();
        let mut defs = definitions(&Document {
            file: Path::new("slo.yaml"),
            root: &root,
        })
        .unwrap();
        assert_eq!(defs.len(), 1);
        defs.remove(0)
    }

    fn span(s: &str) -> Span {
        s.parse().unwrap()
    }

    #[test]
    fn every_indicator_counts_the_way_pyrra_does() {
        let ratio = read(include_str!("../tests/fixtures/pyrra/orders-errors.yaml"));
        assert_eq!(
            (ratio.name.as_str(), ratio.service.as_str()),
            ("orders-errors", "kubestore-dev")
        );
        assert_eq!((ratio.objective, ratio.period), (0.99, span("7d")));
        assert_eq!(ratio.numerator_kind, Numerator::Bad);
        assert_eq!(
            ratio.numerator.over(span("10m")),
            r#"sum(increase(http_requests_total{namespace="kubestore-dev",service="orders",status=~"5.."}[10m]))"#
        );

        let latency = read(include_str!("../tests/fixtures/pyrra/users-latency.yaml"));
        assert_eq!(latency.service, "users");
        assert_eq!(latency.numerator_kind, Numerator::Good);
        assert_eq!(
            latency.sources,
            Sources {
                numerator: "slo.yaml:14 spec.indicator.latency.success.metric".into(),
                total: "slo.yaml:16 spec.indicator.latency.total.metric".into(),
            }
        );
        assert_eq!(
            latency.numerator.over(span("1h")),
            r#"sum(increase(http_request_duration_seconds_bucket{le="0.5",namespace="kubestore-dev",service="users"}[1h]))"#
        );

        let gauge = read(include_str!("../tests/fixtures/pyrra/shop-probe.yaml"));
        assert_eq!(
            (gauge.numerator.over(span("1d")), gauge.total.over(span("1d"))),
            (
                r#"sum(sum_over_time(probe_success{namespace="kubestore-dev",target="shop"}[1d]))"#.to_owned(),
                r#"sum(count_over_time(probe_success{namespace="kubestore-dev",target="shop"}[1d]))"#.to_owned()
            )
        );

        let native = read(include_str!(
            "../tests/fixtures/pyrra/frontend-latency-native.yaml"
        ));
        assert_eq!(native.period, span("28d"));
        assert_eq!(
            native.numerator.over(span("10m")),
            r#"sum(histogram_fraction(0, 0.5, increase(http_request_duration_seconds{namespace="kubestore-dev",service="frontend"}[10m])) * histogram_count(increase(http_request_duration_seconds{namespace="kubestore-dev",service="frontend"}[10m])))"#
        );
    }
}
