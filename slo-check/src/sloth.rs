//! Reading Sloth SLOs: `version: prometheus/v1` service files and the Kubernetes
//! `PrometheusServiceLevel` (`sloth.slok.dev/v1`), which holds the same service under
//! `spec` with camelCase query keys.
//!
//! - `sli.events`: `error_query` and `total_query` are per-second rates over
//!   `{{.window}}`; each `rate` becomes `increase` over the same range, so slo-check
//!   counts the events (see `window.rs` for why that is exact).
//! - `sli.raw.error_ratio_query`: a ratio, evaluated as written over the window and over
//!   the SLO period; the number of requests behind it is unknown.
//! - `sli.plugin`: refused; a plugin builds its query in Go code slo-check cannot run.
//!
//! Sloth files do not state their SLO period: it is `--default-slo-period` (30d, as in
//! Sloth). `labels`, `description` and `alerting` only shape Sloth's rules and are
//! ignored.

use crate::definition::{Numerator, SloDefinition, Sources};
use crate::error::SpecError;
use crate::fields;
use crate::load::Document;
use crate::promql::CounterExpr;
use crate::span::Span;
use crate::window;
use crate::yaml::Node;

/// Sloth's own default SLO period (`sloth generate --default-slo-period`).
pub const DEFAULT_PERIOD: Span = Span::from_secs(30 * 86_400);

/// The keys of the two spellings: the service file's snake_case and the CRD's camelCase.
struct Keys {
    /// Where the service starts (empty or `spec.`).
    prefix: &'static str,
    error_query: &'static str,
    total_query: &'static str,
    error_ratio_query: &'static str,
}

const FILE: Keys = Keys {
    prefix: "",
    error_query: "error_query",
    total_query: "total_query",
    error_ratio_query: "error_ratio_query",
};

const CRD: Keys = Keys {
    prefix: "spec.",
    error_query: "errorQuery",
    total_query: "totalQuery",
    error_ratio_query: "errorRatioQuery",
};

/// The SLOs of one Sloth document, each over `period`.
pub fn definitions(doc: &Document<'_>, period: Span) -> Result<Vec<SloDefinition>, Vec<SpecError>> {
    let (service_node, keys) = if doc.root.get("apiVersion").is_some() {
        match doc.root.get("spec") {
            Some(spec) if spec.as_map().is_some() => (spec, &CRD),
            Some(spec) => {
                return Err(vec![doc.error(
                    spec,
                    "spec",
                    format!("expected a mapping, found {}", spec.kind()),
                )]);
            }
            None => {
                return Err(vec![doc.error(
                    doc.root,
                    "spec",
                    "missing: a PrometheusServiceLevel holds its service and SLOs under `spec`",
                )]);
            }
        }
    } else {
        (doc.root, &FILE)
    };
    let p = keys.prefix;
    let mut errors = Vec::new();
    let service = fields::text(
        doc,
        service_node,
        "service",
        &format!("{p}service"),
        "the name of the service the SLOs are for",
    )
    .map(|(_, s)| s.to_owned())
    .map_err(|e| errors.push(e))
    .ok();
    let slos = match service_node.get("slos") {
        Some(list) => match list.as_seq() {
            Some([]) => {
                errors.push(doc.error(list, &format!("{p}slos"), "empty: no SLO to check"));
                &[][..]
            }
            Some(items) => items,
            None => {
                errors.push(doc.error(
                    list,
                    &format!("{p}slos"),
                    format!("expected a list of SLOs, found {}", list.kind()),
                ));
                &[][..]
            }
        },
        None => {
            errors.push(doc.error(service_node, &format!("{p}slos"), "missing: the SLOs"));
            &[][..]
        }
    };
    let mut out = Vec::new();
    for (i, slo) in slos.iter().enumerate() {
        let key = format!("{p}slos[{i}]");
        if let Some(def) = one(
            doc,
            keys,
            slo,
            &key,
            service.as_deref(),
            period,
            &mut errors,
        ) {
            out.push(def);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn one(
    doc: &Document<'_>,
    keys: &Keys,
    slo: &Node,
    key: &str,
    service: Option<&str>,
    period: Span,
    errors: &mut Vec<SpecError>,
) -> Option<SloDefinition> {
    let before = errors.len();
    let name = fields::text(doc, slo, "name", &format!("{key}.name"), "the SLO's name")
        .map(|(_, n)| n.to_owned())
        .map_err(|e| errors.push(e))
        .ok();
    let objective = fields::objective(doc, slo, "objective", &format!("{key}.objective"))
        .map_err(|e| errors.push(e))
        .ok();
    let sli = sli(doc, keys, slo, &format!("{key}.sli"), errors);
    if errors.len() > before {
        return None;
    }
    let (service, name, objective, sli) = (service?, name?, objective?, sli?);
    let id = format!("{service}-{name}");
    let mut def = fields::definition(
        doc,
        (id.clone(), service.to_owned(), name),
        objective,
        period,
        sli,
    );
    def.named_at = slo.get("name").map(|n| (n.line, format!("{key}.name")));
    def.recorded_error_ratio = Some(format!("slo:sli_error:ratio_rate5m{{sloth_id=\"{id}\"}}"));
    Some(def)
}

/// The SLI's two queries: events (bad, total) or a raw error ratio (ratio, ratio).
fn sli(
    doc: &Document<'_>,
    keys: &Keys,
    slo: &Node,
    key: &str,
    errors: &mut Vec<SpecError>,
) -> Option<fields::Sli> {
    let Some(sli) = slo.get("sli") else {
        errors.push(doc.error(
            slo,
            key,
            "missing: the SLI, as `events` (error and total queries) or `raw` (an error ratio query)",
        ));
        return None;
    };
    let form = fields::one_of(
        doc,
        sli,
        key,
        &["events", "raw", "plugin"],
        "expected `events` (error and total queries) or `raw` (an error ratio query)".into(),
    )
    .map_err(|e| errors.push(e))
    .ok()?;
    match form {
        "events" => {
            let events = sli.get("events")?;
            let key = format!("{key}.events");
            let bad = query(doc, events, &key, keys.error_query, window::events, errors);
            let total = query(doc, events, &key, keys.total_query, window::events, errors);
            let ((bad, numerator), (total, total_from)) = (bad?, total?);
            Some((
                Numerator::Bad,
                bad,
                total,
                Sources {
                    numerator,
                    total: total_from,
                },
            ))
        }
        "raw" => {
            let raw = sli.get("raw")?;
            let ratio = query(
                doc,
                raw,
                &format!("{key}.raw"),
                keys.error_ratio_query,
                window::ratio,
                errors,
            )?;
            let (ratio, from) = ratio;
            Some((
                Numerator::ErrorRatio,
                ratio.clone(),
                ratio,
                Sources {
                    numerator: from.clone(),
                    total: from,
                },
            ))
        }
        _ => {
            let plugin = sli.get("plugin")?;
            let id = plugin
                .get("id")
                .and_then(Node::as_str)
                .map(|id| format!(" `{id}`"))
                .unwrap_or_default();
            errors.push(doc.error(
                plugin,
                &format!("{key}.plugin"),
                format!(
                    "the SLI plugin{id} is not supported: a Sloth plugin builds its query in Go \
                     code that slo-check cannot run; write the SLI as `events` or `raw`"
                ),
            ));
            None
        }
    }
}

/// The query at `parent.field`, read by `read`.
fn query(
    doc: &Document<'_>,
    parent: &Node,
    parent_key: &str,
    field: &str,
    read: fn(&str) -> Result<CounterExpr, String>,
    errors: &mut Vec<SpecError>,
) -> Option<(CounterExpr, String)> {
    let key = format!("{parent_key}.{field}");
    let (node, text) = fields::text(doc, parent, field, &key, "a PromQL query")
        .map_err(|e| errors.push(e))
        .ok()?;
    match read(text) {
        Ok(expr) => Some((expr, doc.source(node, &key))),
        Err(e) => {
            errors.push(doc.error(node, &key, e));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn read(name: &str, text: &str) -> Result<Vec<SloDefinition>, Vec<SpecError>> {
        let root: Node = serde_saphyr::from_str(text).unwrap();
        definitions(
            &Document {
                file: Path::new(name),
                root: &root,
            },
            DEFAULT_PERIOD,
        )
    }

    fn span(s: &str) -> Span {
        s.parse().unwrap()
    }

    #[test]
    fn service_file_events_count_requests_and_raw_ratios_stay_ratios() {
        let defs = read(
            "orders.yaml",
            include_str!("../tests/fixtures/sloth/orders.yaml"),
        )
        .unwrap();
        let [events, raw] = defs.as_slice() else {
            panic!("two SLOs: {defs:?}")
        };
        assert_eq!(events.name, "orders-requests-availability");
        assert_eq!(
            (events.service.as_str(), events.slo.as_str()),
            ("orders", "requests-availability")
        );
        assert_eq!(events.objective, 0.999);
        assert_eq!(events.period, span("30d"));
        assert_eq!(events.numerator_kind, Numerator::Bad);
        assert_eq!(
            events.numerator.over(span("10m")),
            r#"sum(increase(http_requests_total{namespace="kubestore-dev",service="orders",status=~"5.."}[10m]))"#
        );
        assert_eq!(
            events.total.over(span("30d")),
            r#"sum(increase(http_requests_total{namespace="kubestore-dev",service="orders"}[30d]))"#
        );
        assert_eq!(
            events.recorded_error_ratio.as_deref(),
            Some(r#"slo:sli_error:ratio_rate5m{sloth_id="orders-requests-availability"}"#)
        );
        assert_eq!(
            events.sources,
            Sources {
                numerator: "orders.yaml:12 slos[0].sli.events.error_query".into(),
                total: "orders.yaml:13 slos[0].sli.events.total_query".into(),
            }
        );
        assert_eq!(raw.numerator_kind, Numerator::ErrorRatio);
        assert_eq!(
            raw.sources.numerator,
            "orders.yaml:28 slos[1].sli.raw.error_ratio_query"
        );
        assert_eq!(
            raw.numerator.over(span("10m")),
            r#"sum(rate(http_requests_total{namespace="kubestore-dev",service="orders",status=~"5.."}[10m])) / sum(rate(http_requests_total{namespace="kubestore-dev",service="orders"}[10m]))"#
        );
    }

    #[test]
    fn the_kubernetes_resource_reads_camel_case_under_spec() {
        let defs = read(
            "users.yaml",
            include_str!("../tests/fixtures/sloth/users-kubernetes.yaml"),
        )
        .unwrap();
        assert_eq!(defs.len(), 1);
        assert_eq!(defs[0].name, "users-requests-availability");
        assert_eq!(defs[0].objective, 0.995);
        assert_eq!(
            defs[0].sources.total,
            "users.yaml:17 spec.slos[0].sli.events.totalQuery"
        );
        assert_eq!(
            defs[0].total.over(span("1h")),
            r#"sum(increase(http_requests_total{namespace="kubestore-dev",service="users"}[1h]))"#
        );
    }
}
