//! Counter expressions and the queries built from them.
//!
//! An OpenSLO `ratioMetric` with `counter: true` names counters, usually `sum(x{...})`.
//! Taking the increase of that sum (`increase(sum(x)[w])`) is wrong: one restarted pod
//! resets its own counter, which looks like a reset of the whole sum. The expression is
//! therefore parsed and every selector in it is wrapped in `increase(selector[w])`, so
//! the increase is taken per series and then summed.

use promql_parser::label::Matchers;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, Call, Expr, Function, FunctionArgs, MatrixSelector};

use crate::span::Span;

/// How an expression turns into "events over a range".
#[derive(Debug, Clone)]
enum Form {
    /// Selects counters; each selector becomes `increase(selector[range])`.
    Counters(Box<Expr>),
    /// Already counts events over the range, which it names as `$window`.
    Template(String),
    /// Parsed with the window's placeholder in its ranges (see `window.rs`).
    Ranged(Box<Expr>),
}

/// A PromQL expression that yields a number of events over a range.
#[derive(Debug, Clone)]
pub struct CounterExpr {
    form: Form,
    /// The selectors it reads, for explaining an empty answer.
    selectors: Vec<String>,
    /// The expression as written.
    pub source: String,
}

/// The placeholder a counting template names its range with (the generator's spelling).
pub use kubestore_core::slo_check::WINDOW_PLACEHOLDER;

/// Every spelling of the window placeholder in the wild: ours and OpenSLO examples'
/// `$window`, Sloth's Go templates `{{.window}}`, and the forms other tools write.
pub const WINDOW_PLACEHOLDERS: [&str; 6] = [
    "{{.window}}",
    "{{ .window }}",
    "{{.Window}}",
    "{{ .Window }}",
    "${window}",
    WINDOW_PLACEHOLDER,
];

/// `source` with every placeholder spelt `$window`.
fn normalise(source: &str) -> String {
    WINDOW_PLACEHOLDERS
        .iter()
        .fold(source.to_owned(), |text, p| {
            text.replace(p, WINDOW_PLACEHOLDER)
        })
}

/// Functions that give a rate per second: summed up they are not a number of events.
const PER_SECOND: [&str; 3] = ["rate", "irate", "deriv"];

impl CounterExpr {
    /// Reads an expression over raw counters (`counter: true`).
    pub fn counters(source: &str) -> Result<Self, String> {
        if normalise(source).contains(WINDOW_PLACEHOLDER) {
            return Err(format!(
                "names the window (`{WINDOW_PLACEHOLDER}`), so it counts events over the window \
                 itself: set `counter: false` (a `counter: true` query names the counters, e.g. \
                 `sum(x_total{{...}})`)"
            ));
        }
        let expr = parser::parse(source).map_err(|e| format!("not valid PromQL: {e}"))?;
        let mut selectors = Vec::new();
        check_counters(&expr, &mut selectors)?;
        if selectors.is_empty() {
            return Err("selects no series: a counter query names at least one metric".into());
        }
        Ok(Self {
            form: Form::Counters(Box::new(expr)),
            selectors,
            source: source.to_owned(),
        })
    }

    /// Reads an expression that counts events over `$window` itself (`counter: false`),
    /// e.g. `sum(increase(x[$window]))`.
    pub fn template(source: &str) -> Result<Self, String> {
        let text = normalise(source);
        if !text.contains(WINDOW_PLACEHOLDER) {
            return Err(format!(
                "a query with `counter: false` must count events over `{WINDOW_PLACEHOLDER}` \
                 (e.g. `sum(increase(x[{WINDOW_PLACEHOLDER}]))`; `{{{{.window}}}}` works too), \
                 or set `counter: true` and name the counters"
            ));
        }
        let probe = text.replace(WINDOW_PLACEHOLDER, "5m");
        let expr = parser::parse(&probe).map_err(|e| {
            format!("not valid PromQL once the window placeholder stands for a range: {e}")
        })?;
        if let Some(f) = per_second(&expr) {
            return Err(format!(
                "`{f}(...)` gives events per second, not a number of events over the window: \
                 count them with `increase(...[{WINDOW_PLACEHOLDER}])`"
            ));
        }
        let mut selectors = Vec::new();
        collect_selectors(&expr, &mut selectors);
        Ok(Self {
            form: Form::Template(text),
            selectors,
            source: source.to_owned(),
        })
    }

    /// Reads an expression whose value is judged as it is (an OpenSLO `thresholdMetric`,
    /// e.g. a latency quantile), naming its range with a placeholder if it has one.
    pub fn value(source: &str) -> Result<Self, String> {
        let text = normalise(source);
        let probe = text.replace(WINDOW_PLACEHOLDER, "5m");
        let expr = parser::parse(&probe).map_err(|e| format!("not valid PromQL: {e}"))?;
        let mut selectors = Vec::new();
        collect_selectors(&expr, &mut selectors);
        Ok(Self {
            form: Form::Template(text),
            selectors,
            source: source.to_owned(),
        })
    }

    /// An expression whose ranges stand for the window, checked by `window.rs`.
    pub(crate) fn ranged(expr: Expr, selectors: Vec<String>, source: &str) -> Self {
        Self {
            form: Form::Ranged(Box::new(expr)),
            selectors,
            source: source.to_owned(),
        }
    }

    /// The query counting events over `range`.
    pub fn over(&self, range: Span) -> String {
        match &self.form {
            Form::Counters(expr) => increase_each(expr, range).to_string(),
            Form::Template(text) => text.replace(WINDOW_PLACEHOLDER, &range.to_string()),
            Form::Ranged(expr) => crate::window::resolve(expr, range.std()).to_string(),
        }
    }

    /// The selectors it reads (`http_requests_total{service="orders"}`).
    pub fn selectors(&self) -> &[String] {
        &self.selectors
    }
}

/// Counters are selected, combined and aggregated; anything that already takes a range
/// (`rate`, a matrix, a subquery) is not a counter and would be counted twice.
fn check_counters(expr: &Expr, selectors: &mut Vec<String>) -> Result<(), String> {
    match expr {
        Expr::VectorSelector(vs) => {
            selectors.push(vs.to_string());
            Ok(())
        }
        Expr::Aggregate(a) => check_counters(&a.expr, selectors),
        Expr::Binary(b) => {
            check_counters(&b.lhs, selectors)?;
            check_counters(&b.rhs, selectors)
        }
        Expr::Paren(p) => check_counters(&p.expr, selectors),
        Expr::NumberLiteral(_) => Ok(()),
        Expr::Call(c) if c.func.name == "vector" => Ok(()),
        Expr::Call(c) => Err(format!(
            "`{}(...)` in a `counter: true` query: name the counters themselves \
             (e.g. `sum(x_total{{...}})`); slo-check takes their increase over the window",
            c.func.name
        )),
        Expr::MatrixSelector(_) | Expr::Subquery(_) => Err(
            "a range selector in a `counter: true` query: name the counters themselves; \
             slo-check takes their increase over the window"
                .into(),
        ),
        Expr::Unary(u) => check_counters(&u.expr, selectors),
        Expr::StringLiteral(_) | Expr::Extension(_) => {
            Err("a `counter: true` query must select counters".into())
        }
    }
}

/// The first per-second function `expr` applies, if any.
fn per_second(expr: &Expr) -> Option<&'static str> {
    match expr {
        Expr::Call(c) => PER_SECOND
            .iter()
            .find(|f| **f == c.func.name)
            .copied()
            .or_else(|| c.args.args.iter().find_map(|a| per_second(a))),
        Expr::Aggregate(a) => per_second(&a.expr),
        Expr::Binary(b) => per_second(&b.lhs).or_else(|| per_second(&b.rhs)),
        Expr::Paren(p) => per_second(&p.expr),
        Expr::Unary(u) => per_second(&u.expr),
        Expr::Subquery(s) => per_second(&s.expr),
        _ => None,
    }
}

pub(crate) fn collect_selectors(expr: &Expr, out: &mut Vec<String>) {
    match expr {
        Expr::VectorSelector(vs) => out.push(vs.to_string()),
        Expr::MatrixSelector(ms) => out.push(ms.vs.to_string()),
        Expr::Aggregate(a) => collect_selectors(&a.expr, out),
        Expr::Binary(b) => {
            collect_selectors(&b.lhs, out);
            collect_selectors(&b.rhs, out);
        }
        Expr::Paren(p) => collect_selectors(&p.expr, out),
        Expr::Unary(u) => collect_selectors(&u.expr, out),
        Expr::Subquery(s) => collect_selectors(&s.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| collect_selectors(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn increase_each(expr: &Expr, range: Span) -> Expr {
    rewrite(expr, &|e| match e {
        Expr::VectorSelector(vs) => Some(Expr::Call(Call {
            func: increase(),
            args: FunctionArgs::new_args(Expr::MatrixSelector(MatrixSelector {
                vs: vs.clone(),
                range: range.std(),
            })),
        })),
        _ => None,
    })
}

/// `expr` rebuilt with each node `leaf` answers for replaced by its answer; operators,
/// aggregations, calls and subqueries are kept around the replaced nodes.
pub(crate) fn rewrite(expr: &Expr, leaf: &impl Fn(&Expr) -> Option<Expr>) -> Expr {
    if let Some(replaced) = leaf(expr) {
        return replaced;
    }
    match expr {
        Expr::Aggregate(a) => {
            let mut a = a.clone();
            a.expr = Box::new(rewrite(&a.expr, leaf));
            Expr::Aggregate(a)
        }
        Expr::Binary(b) => {
            let mut b = b.clone();
            b.lhs = Box::new(rewrite(&b.lhs, leaf));
            b.rhs = Box::new(rewrite(&b.rhs, leaf));
            Expr::Binary(b)
        }
        Expr::Paren(p) => {
            let mut p = p.clone();
            p.expr = Box::new(rewrite(&p.expr, leaf));
            Expr::Paren(p)
        }
        Expr::Unary(u) => {
            let mut u = u.clone();
            u.expr = Box::new(rewrite(&u.expr, leaf));
            Expr::Unary(u)
        }
        Expr::Subquery(q) => {
            let mut q = q.clone();
            q.expr = Box::new(rewrite(&q.expr, leaf));
            Expr::Subquery(q)
        }
        Expr::Call(c) => {
            let mut c = c.clone();
            c.args.args = c
                .args
                .args
                .iter()
                .map(|a| Box::new(rewrite(a, leaf)))
                .collect();
            Expr::Call(c)
        }
        other => other.clone(),
    }
}

/// The `increase` function, to wrap a range selector in.
pub(crate) fn increase() -> Function {
    Function {
        name: "increase",
        arg_types: vec![ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    }
}

/// `count(last_over_time(selector[range]))`: how many of `selector`'s series reported
/// at least once over `range`, empty when none did.
pub fn presence(selector: &str, range: Span) -> String {
    format!("count(last_over_time({selector}[{range}]))")
}

/// Whether a selector names a recorded series: by Prometheus' naming convention only
/// recording rules put a colon in a metric name.
pub fn is_recorded(selector: &str) -> bool {
    parser::parse(selector)
        .ok()
        .and_then(|e| match e {
            Expr::VectorSelector(vs) => vs.name.or_else(|| name_matcher(&vs.matchers)),
            _ => None,
        })
        .is_some_and(|name| name.contains(':'))
}

fn name_matcher(matchers: &Matchers) -> Option<String> {
    matchers
        .matchers
        .iter()
        .find(|m| m.name == "__name__")
        .map(|m| m.value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(s: &str) -> Span {
        s.parse().unwrap()
    }

    #[test]
    fn takes_the_increase_per_series_before_summing() {
        let e =
            CounterExpr::counters(r#"sum(http_requests_total{service="orders",status=~"5.."})"#)
                .unwrap();
        assert_eq!(
            e.over(span("10m")),
            r#"sum(increase(http_requests_total{service="orders",status=~"5.."}[10m]))"#
        );
        assert_eq!(
            e.selectors(),
            [r#"http_requests_total{service="orders",status=~"5.."}"#]
        );
    }

    #[test]
    fn keeps_grouping_and_arithmetic() {
        let e = CounterExpr::counters("sum by (code) (a_total) + sum(b_total)").unwrap();
        assert_eq!(
            e.over(span("1h")),
            "sum by (code) (increase(a_total[1h])) + sum(increase(b_total[1h]))"
        );
    }

    #[test]
    fn refuses_rates_in_counter_queries() {
        let err = CounterExpr::counters("sum(rate(x_total[5m]))").unwrap_err();
        assert!(err.contains("`rate(...)`"), "{err}");
        assert!(CounterExpr::counters("sum(x_total").is_err());
        assert!(CounterExpr::counters("vector(1)").is_err());
    }

    #[test]
    fn templates_name_their_window() {
        let e = CounterExpr::template("sum(increase(x_total[$window]))").unwrap();
        assert_eq!(e.over(span("30d")), "sum(increase(x_total[30d]))");
        assert!(CounterExpr::template("sum(x_total)").is_err());
    }

    #[test]
    fn reads_every_window_placeholder() {
        for p in [
            "{{.window}}",
            "{{ .window }}",
            "{{.Window}}",
            "${window}",
            "$window",
        ] {
            let e = CounterExpr::template(&format!("sum(increase(x_total[{p}]))")).unwrap();
            assert_eq!(e.over(span("1h")), "sum(increase(x_total[1h]))", "{p}");
        }
        let err = CounterExpr::counters("sum(x_total[{{.window}}])").unwrap_err();
        assert!(err.contains("set `counter: false`"), "{err}");
    }

    #[test]
    fn refuses_per_second_values_as_counts() {
        let err = CounterExpr::template("sum(rate(x_total[$window]))").unwrap_err();
        assert_eq!(
            err,
            "`rate(...)` gives events per second, not a number of events over the window: \
             count them with `increase(...[$window])`"
        );
    }

    #[test]
    fn recognises_recorded_series() {
        assert!(is_recorded(r#"slo:sli_error:ratio_rate7d{service="cart"}"#));
        assert!(!is_recorded(r#"http_requests_total{service="cart"}"#));
    }
}
