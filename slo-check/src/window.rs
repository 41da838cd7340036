//! Queries that name the evaluation window with a placeholder (`{{.window}}`, as Sloth
//! writes them), and how slo-check turns them into counts of events over any range.
//!
//! Sloth's event queries are per-second rates, `sum(rate(x[{{.window}}]))`. slo-check
//! needs the number of events, because `requests`, `--min-events` and the request rate
//! are counts. Prometheus computes `rate(v[r])` as `increase(v[r])` divided by the
//! seconds of `r`, on the same extrapolated, reset-corrected samples, so replacing each
//! `rate` by `increase` over the same range counts exactly the events the rate averaged,
//! a restarted pod included. That holds only where the rates are added up (`sum`, `+`,
//! `-`, `or`), so every other shape is refused rather than counted wrongly.

use std::time::Duration;

use promql_parser::parser::{self, Call, Expr, FunctionArgs};

use crate::promql::{CounterExpr, WINDOW_PLACEHOLDERS, increase, rewrite};

/// The placeholder named in messages: Sloth's spelling, the first in the list.
pub const PLACEHOLDER: &str = WINDOW_PLACEHOLDERS[0];

/// A range no one writes, standing for the window while a query is parsed.
const SENTINEL_TEXT: &str = "3141592653ms";
const SENTINEL: Duration = Duration::from_millis(3_141_592_653);

/// The query with every placeholder made parseable, or `None` without a placeholder.
fn substitute(source: &str) -> Option<String> {
    WINDOW_PLACEHOLDERS
        .iter()
        .any(|p| source.contains(p))
        .then(|| {
            WINDOW_PLACEHOLDERS
                .iter()
                .fold(source.to_owned(), |text, p| text.replace(p, SENTINEL_TEXT))
        })
}

fn parse(source: &str) -> Result<Expr, String> {
    let text = substitute(source).ok_or_else(|| {
        format!(
            "names no window: write the range of each `rate(...)` as `[{PLACEHOLDER}]`, \
             which slo-check sets to the evaluation window and to the SLO period"
        )
    })?;
    parser::parse(&text).map_err(|e| format!("not valid PromQL: {e}"))
}

/// An event query, `sum(rate(x[{{.window}}]))`, as a count of events over the window.
pub fn events(source: &str) -> Result<CounterExpr, String> {
    let expr = parse(source)?;
    let mut selectors = Vec::new();
    let counted = count(&expr, &mut selectors)?;
    if selectors.is_empty() {
        return Err(format!(
            "counts no series: an event query takes `rate(x[{PLACEHOLDER}])` of a counter"
        ));
    }
    Ok(CounterExpr::ranged(counted, selectors, source))
}

/// A query that answers a ratio over the window itself (Sloth's `error_ratio_query`):
/// kept as written, its placeholder set to each range asked.
pub fn ratio(source: &str) -> Result<CounterExpr, String> {
    let expr = parse(source)?;
    let mut selectors = Vec::new();
    crate::promql::collect_selectors(&expr, &mut selectors);
    if selectors.is_empty() {
        return Err("reads no series: an error ratio divides two counts of events".into());
    }
    Ok(CounterExpr::ranged(expr, selectors, source))
}

/// A query that answers the share of good events over the window (OpenSLO's
/// `rawType: success`), asked as `1 - (query)`: the server computes the error ratio, so
/// `--explain` shows the very query whose answer is judged.
pub fn success_ratio(source: &str) -> Result<CounterExpr, String> {
    // Checked as written first, so a mistake is reported in the user's own text.
    ratio(source)?;
    let expr = parse(&format!("1 - (\n{source}\n)"))?;
    let mut selectors = Vec::new();
    crate::promql::collect_selectors(&expr, &mut selectors);
    Ok(CounterExpr::ranged(expr, selectors, source))
}

/// `expr` with the window's placeholder set to `range`.
pub fn resolve(expr: &Expr, range: Duration) -> Expr {
    rewrite(expr, &|e| match e {
        Expr::MatrixSelector(ms) if ms.range == SENTINEL => {
            let mut ms = ms.clone();
            ms.range = range;
            Some(Expr::MatrixSelector(ms))
        }
        Expr::Subquery(q) if q.range == SENTINEL => {
            let mut q = q.clone();
            q.range = range;
            q.expr = Box::new(resolve(&q.expr, range));
            Some(Expr::Subquery(q))
        }
        _ => None,
    })
}

/// Checks that `expr` adds up rates (or increases) over the window and returns it with
/// every `rate` turned into `increase`.
fn count(expr: &Expr, selectors: &mut Vec<String>) -> Result<Expr, String> {
    match expr {
        Expr::Call(c) if matches!(c.func.name, "rate" | "increase") => {
            let name = c.func.name;
            let Some(Expr::MatrixSelector(ms)) = c.args.args.first().map(AsRef::as_ref) else {
                return Err(format!(
                    "`{name}(...)` of a subquery: give it a counter over `[{PLACEHOLDER}]`"
                ));
            };
            if ms.range != SENTINEL {
                return Err(format!(
                    "`{name}({}[{}])` counts over a fixed range: write `[{PLACEHOLDER}]` so it \
                     follows the evaluation window",
                    ms.vs,
                    shown(ms.range)
                ));
            }
            if ms.vs.offset.is_some() || ms.vs.at.is_some() {
                return Err(format!(
                    "`{name}({}[{PLACEHOLDER}])` is shifted in time (`offset` or `@`): the \
                     window must end at the evaluation time",
                    ms.vs
                ));
            }
            selectors.push(ms.vs.to_string());
            Ok(Expr::Call(Call {
                func: increase(),
                args: FunctionArgs::new_args(Expr::MatrixSelector(ms.clone())),
            }))
        }
        Expr::Call(c) if c.func.name == "vector" => Ok(expr.clone()),
        Expr::Call(c) => Err(format!(
            "`{}(...)` in an event query: slo-check counts events from `rate(x[{PLACEHOLDER}])` \
             or `increase(x[{PLACEHOLDER}])`, added up with `sum`",
            c.func.name
        )),
        Expr::Aggregate(a) if a.op.to_string() == "sum" => {
            let mut a = a.clone();
            a.expr = Box::new(count(&a.expr, selectors)?);
            Ok(Expr::Aggregate(a))
        }
        Expr::Aggregate(a) => Err(format!(
            "`{}(...)` in an event query: only `sum` adds up events",
            a.op
        )),
        Expr::Binary(b)
            if matches!(
                b.op.to_string().as_str(),
                "+" | "-" | "or" | "and" | "unless"
            ) =>
        {
            let mut b = b.clone();
            b.lhs = Box::new(count(&b.lhs, selectors)?);
            b.rhs = Box::new(count(&b.rhs, selectors)?);
            Ok(Expr::Binary(b))
        }
        Expr::Binary(b) => Err(format!(
            "`{}` in an event query: a product, ratio or comparison of rates is not a number of \
             events (write the ratio as `sli.raw.error_ratio_query`)",
            b.op
        )),
        Expr::Paren(p) => {
            let mut p = p.clone();
            p.expr = Box::new(count(&p.expr, selectors)?);
            Ok(Expr::Paren(p))
        }
        Expr::NumberLiteral(_) => Ok(expr.clone()),
        Expr::VectorSelector(vs) => Err(format!(
            "`{vs}` is read without a range: count its events with `rate({vs}[{PLACEHOLDER}])`"
        )),
        Expr::MatrixSelector(_) | Expr::Subquery(_) => Err(format!(
            "a range outside `rate(...)`: count events with `rate(x[{PLACEHOLDER}])`"
        )),
        Expr::Unary(u) => Err(format!(
            "a negated query (`-{}`) is not a number of events",
            u.expr
        )),
        Expr::StringLiteral(_) | Expr::Extension(_) => {
            Err("an event query must count events of a counter".into())
        }
    }
}

/// A range as the user wrote it, or the placeholder.
fn shown(range: Duration) -> String {
    if range == SENTINEL {
        PLACEHOLDER.to_owned()
    } else {
        crate::span::Span::from_secs(range.as_secs()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(s: &str) -> crate::span::Span {
        s.parse().unwrap()
    }

    #[test]
    fn rates_over_the_window_become_counts() {
        let e = events(r#"sum(rate(http_requests_total{job="shop",code=~"5.."}[{{.window}}]))"#)
            .unwrap();
        assert_eq!(
            e.over(span("10m")),
            r#"sum(increase(http_requests_total{code=~"5..",job="shop"}[10m]))"#
        );
        assert_eq!(
            e.over(span("30d")),
            r#"sum(increase(http_requests_total{code=~"5..",job="shop"}[30d]))"#
        );
        assert_eq!(
            e.selectors(),
            [r#"http_requests_total{code=~"5..",job="shop"}"#]
        );
    }

    #[test]
    fn every_spelling_of_the_placeholder_and_sums_with_fallbacks() {
        let e = events(
            "(sum by (code) (rate(a_total[{{ .window }}])) + sum(increase(b_total[$window]))) \
             or vector(0)",
        )
        .unwrap();
        assert_eq!(
            e.over(span("1h")),
            "(sum by (code) (increase(a_total[1h])) + sum(increase(b_total[1h]))) or vector(0)"
        );
    }

    #[test]
    fn refuses_what_would_not_count_events() {
        for (query, message) in [
            (
                "sum(rate(x_total[5m]))",
                "names no window: write the range of each `rate(...)` as `[{{.window}}]`, which \
                 slo-check sets to the evaluation window and to the SLO period",
            ),
            (
                "sum(rate(x_total[5m])) + sum(rate(y_total[{{.window}}]))",
                "`rate(x_total[5m])` counts over a fixed range: write `[{{.window}}]` so it \
                 follows the evaluation window",
            ),
            (
                "sum(irate(x_total[{{.window}}]))",
                "`irate(...)` in an event query: slo-check counts events from \
                 `rate(x[{{.window}}])` or `increase(x[{{.window}}])`, added up with `sum`",
            ),
            (
                "max(rate(x_total[{{.window}}]))",
                "`max(...)` in an event query: only `sum` adds up events",
            ),
            (
                "sum(rate(x_total[{{.window}}])) / sum(rate(y_total[{{.window}}]))",
                "`/` in an event query: a product, ratio or comparison of rates is not a number \
                 of events (write the ratio as `sli.raw.error_ratio_query`)",
            ),
            (
                "sum(x_total)",
                "names no window: write the range of each `rate(...)` as `[{{.window}}]`, which \
                 slo-check sets to the evaluation window and to the SLO period",
            ),
            (
                "sum(rate(x_total[{{.window}}] offset 1h))",
                "`rate(x_total offset 1h[{{.window}}])` is shifted in time (`offset` or `@`): \
                 the window must end at the evaluation time",
            ),
        ] {
            assert_eq!(events(query).unwrap_err(), message, "{query}");
        }
        assert!(
            events("sum(rate(x_total[{{.window}}])")
                .unwrap_err()
                .starts_with("not valid PromQL: ")
        );
    }

    #[test]
    fn ratios_keep_their_shape() {
        let e =
            ratio("sum(rate(bad_total[{{.window}}])) / sum(rate(all_total[{{.window}}]))").unwrap();
        assert_eq!(
            e.over(span("10m")),
            "sum(rate(bad_total[10m])) / sum(rate(all_total[10m]))"
        );
        assert_eq!(e.selectors(), ["bad_total", "all_total"]);
    }
}
