//! Fields the Sloth and Pyrra readers share: texts that must be there, and objectives
//! written as percentages (Sloth's `objective: 99.9`, Pyrra's `target: "99.5"`), read
//! exactly through kubestore-core's `Percent` so `99.9` is the ratio `0.999` and not
//! `0.9990000000000001`.

use kubestore_core::model::units::Percent;

use kubestore_core::model::slo::page_factor;

use crate::definition::{Budgeting, Numerator, SloDefinition, Sources};
use crate::error::SpecError;
use crate::load::Document;
use crate::promql::CounterExpr;
use crate::span::Span;
use crate::yaml::Node;

/// What an SLI reads: its two queries and where each was written.
pub type Sli = (Numerator, CounterExpr, CounterExpr, Sources);

/// A definition read from `doc` with what neither Sloth nor Pyrra states left at
/// slo-check's defaults: a rolling period, events counted (`Occurrences`), no minimum
/// request rate, the page tier's fast burn.
pub fn definition(
    doc: &Document<'_>,
    (name, service, slo): (String, String, String),
    objective: f64,
    period: Span,
    (numerator_kind, numerator, total, sources): Sli,
) -> SloDefinition {
    SloDefinition {
        name,
        service,
        slo,
        objective,
        period,
        calendar: None,
        budgeting: Budgeting::Occurrences,
        threshold: None,
        grouping: Vec::new(),
        numerator_kind,
        numerator,
        total,
        min_request_rate: None,
        recorded_error_ratio: None,
        fast_burn: page_factor(),
        origin: doc.origin(),
        named_at: None,
        sources,
        prometheus_url: None,
    }
}

/// The text at `parent.<field>`, named `key` in errors; `what` says what it should be
/// (`a PromQL query`).
pub fn text<'n>(
    doc: &Document<'_>,
    parent: &'n Node,
    field: &str,
    key: &str,
    what: &str,
) -> Result<(&'n Node, &'n str), SpecError> {
    let Some(node) = parent.get(field) else {
        return Err(doc.error(parent, key, format!("missing: {what}")));
    };
    match node.as_str() {
        Some(t) if !t.trim().is_empty() => Ok((node, t.trim())),
        Some(_) => Err(doc.error(node, key, format!("empty: expected {what}"))),
        None => Err(doc.error(node, key, format!("expected {what}, found {}", node.kind()))),
    }
}

/// Which one of `names` the mapping `node` (named `key`) holds; `none` is the message
/// when it holds none of them.
pub fn one_of(
    doc: &Document<'_>,
    node: &Node,
    key: &str,
    names: &[&'static str],
    none: String,
) -> Result<&'static str, SpecError> {
    let found: Vec<&'static str> = names
        .iter()
        .copied()
        .filter(|n| node.get(n).is_some())
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(doc.error(node, key, none)),
        several => Err(doc.error(
            node,
            key,
            format!(
                "give one of {}, not {}",
                listed(names, "or"),
                listed(several, "and")
            ),
        )),
    }
}

/// `` `a`, `b` or `c` ``.
fn listed(names: &[&str], last: &str) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        Some((tail, head)) if !head.is_empty() => format!("{} {last} {tail}", head.join(", ")),
        _ => quoted.concat(),
    }
}

/// The objective at `parent.<field>`, a percentage, as a ratio.
pub fn objective(
    doc: &Document<'_>,
    parent: &Node,
    field: &str,
    key: &str,
) -> Result<f64, SpecError> {
    let Some(node) = parent.get(field) else {
        return Err(doc.error(
            parent,
            key,
            "missing: the objective as a percentage, e.g. `99.9`",
        ));
    };
    from_percent(node).map_err(|e| doc.error(node, key, e))
}

/// The objective as a ratio in (0, 1), or why the value is not one.
fn from_percent(node: &Node) -> Result<f64, String> {
    let Some(text) = node.scalar_text() else {
        return Err(format!(
            "expected a percentage such as `99.9`, found {}",
            node.kind()
        ));
    };
    let percent = Percent::parse(text.trim()).map_err(|_| {
        format!("`{text}` is not a percentage: expected a number between 0 and 100, e.g. `99.9`")
    })?;
    let ratio = percent.ratio();
    if ratio <= 0.0 || ratio >= 1.0 {
        return Err(format!(
            "`{text}` must be between 0 and 100, both excluded: a 100% objective has no error budget"
        ));
    }
    Ok(ratio)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Value;

    fn node(value: Value) -> Node {
        Node { value, line: 1 }
    }

    #[test]
    fn lists_read_as_a_sentence() {
        assert_eq!(
            listed(&["events", "raw", "plugin"], "or"),
            "`events`, `raw` or `plugin`"
        );
        assert_eq!(listed(&["events", "raw"], "and"), "`events` and `raw`");
        assert_eq!(listed(&["raw"], "and"), "`raw`");
    }

    #[test]
    fn percentages_are_exact_ratios() {
        assert_eq!(from_percent(&node(Value::Number(99.9))), Ok(0.999));
        assert_eq!(from_percent(&node(Value::String("99.5".into()))), Ok(0.995));
        assert_eq!(
            from_percent(&node(Value::Number(100.0))).unwrap_err(),
            "`100` must be between 0 and 100, both excluded: a 100% objective has no error budget"
        );
        assert_eq!(
            from_percent(&node(Value::String("0.999x".into()))).unwrap_err(),
            "`0.999x` is not a percentage: expected a number between 0 and 100, e.g. `99.9`"
        );
    }
}
