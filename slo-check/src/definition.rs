//! What slo-check evaluates: one SLO with its objective, period and the two counter
//! expressions of its ratio, wherever it was read from (OpenSLO or an environment file).

use crate::calendar::Calendar;
use crate::promql::CounterExpr;
use crate::span::Span;

/// Which side of the ratio the numerator counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numerator {
    /// Bad events (availability: 5xx answers).
    Bad,
    /// Good events (latency: answers below the threshold).
    Good,
    /// The error ratio itself (Sloth's `error_ratio_query`, OpenSLO's `raw` ratio):
    /// `numerator` answers it over a range and `total` is the same query, since no count
    /// of events stands behind it.
    ErrorRatio,
}

/// One service level objective.
#[derive(Debug, Clone)]
pub struct SloDefinition {
    /// Unique name, e.g. `orders-availability`.
    pub name: String,
    /// The service it belongs to.
    pub service: String,
    /// What it measures (`availability`, `latency`, or the objective's name).
    pub slo: String,
    /// Share of good events promised, in (0, 1).
    pub objective: f64,
    /// The SLO period the error budget is spent over: its length when rolling, the
    /// current period's length when `calendar` is set.
    pub period: Span,
    /// Calendar periods (OpenSLO `isRolling: false`): the budget is the current
    /// period's, from its start to the evaluation time.
    pub calendar: Option<Calendar>,
    /// How the budget is counted.
    pub budgeting: Budgeting,
    /// For an OpenSLO `thresholdMetric`: `numerator` is the value, judged per time slice
    /// against this threshold (`total` is the same value, for diagnostics).
    pub threshold: Option<Threshold>,
    /// Labels the SLI is grouped by (Pyrra's `grouping`): each group is judged on its own
    /// and the SLO takes its worst group's verdict; empty for one SLI over all series.
    pub grouping: Vec<String>,
    /// Whether the numerator counts bad or good events.
    pub numerator_kind: Numerator,
    /// Bad or good events.
    pub numerator: CounterExpr,
    /// All events.
    pub total: CounterExpr,
    /// Below this request rate one failure swings the verdict.
    pub min_request_rate: Option<f64>,
    /// A recorded series of the error ratio that should exist when the rules are loaded.
    pub recorded_error_ratio: Option<String>,
    /// Burn rate that stops a soak at once.
    pub fast_burn: f64,
    /// Where it was read from (`gitops/slo/dev/orders-availability.yaml`).
    pub origin: String,
    /// The line and key its name is written at (`slos[1].name`), to point at a name
    /// given twice; `None` when the name was built, not read.
    pub named_at: Option<(u64, String)>,
    /// Where each query was written, for `--explain`.
    pub sources: Sources,
    /// The server its data source names (an OpenSLO `DataSource`), used without
    /// `--prometheus`.
    pub prometheus_url: Option<String>,
}

/// Where the queries of a definition were written: `file:line key`, empty when they
/// were built rather than read (an environment's SLOs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// The numerator's query.
    pub numerator: String,
    /// The total's query.
    pub total: String,
}

/// When a value is good: `value <op> threshold`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// The PromQL comparison: `<`, `<=`, `>` or `>=`.
    pub op: &'static str,
    /// The threshold.
    pub value: f64,
}

/// How the error budget is counted (OpenSLO `budgetingMethod`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budgeting {
    /// Bad events out of all events.
    Occurrences,
    /// The share of good slices of `slice`, a slice being good when its ratio of good
    /// events reaches `target`.
    Timeslices {
        /// The ratio a slice must reach to be good (`timeSliceTarget`).
        target: f64,
        /// The slice (`timeSliceWindow`).
        slice: Span,
    },
    /// The mean of the slices' ratios of good events.
    RatioTimeslices {
        /// The slice (`timeSliceWindow`).
        slice: Span,
    },
}

impl SloDefinition {
    /// The error budget as a ratio: `1 - objective`.
    pub fn budget(&self) -> f64 {
        1.0 - self.objective
    }

    /// The length of the SLO period `at` falls in.
    pub fn period_at(&self, at: i64) -> Span {
        match self.calendar.as_ref().and_then(|c| c.period(at)) {
            Some((start, end)) => Span::from_secs((end - start) as u64),
            None => self.period,
        }
    }

    /// The range the period's budget is measured over at `at`: the rolling period, or
    /// from the start of the current calendar period.
    pub fn period_range(&self, at: i64) -> Span {
        match self.calendar.as_ref().and_then(|c| c.period(at)) {
            Some((start, _)) => Span::from_secs((at - start).max(1) as u64),
            None => self.period,
        }
    }
}
