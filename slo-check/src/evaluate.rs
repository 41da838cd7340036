//! One evaluation: per SLO, events over the window and over the SLO period at one
//! evaluation time, then the SLI, burn rate, budget left and a verdict with its reason.

use std::sync::Arc;

use serde::Serialize;
use tokio::task::JoinSet;

use crate::definition::{Budgeting, Numerator, SloDefinition};
use crate::prometheus::{Answer, Auth, Client, QueryError};
use crate::promql::{self, is_recorded};
use crate::span::Span;

mod grouped;
mod ratio;

/// What happens when the SLO period's budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetPolicy {
    /// Report it; only the burn over the window breaches.
    Warn,
    /// An exhausted budget breaches too.
    Fail,
}

/// The judgement on one SLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Burning faster than allowed (listed first in reports).
    Breached,
    /// Could not be evaluated: a failed query or inconsistent data.
    Error,
    /// No requests over the window, or no series.
    NoData,
    /// Too few requests to judge.
    LowTraffic,
    /// Within its objective.
    Met,
}

impl Verdict {
    /// As printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Breached => "breached",
            Verdict::NoData => "no_data",
            Verdict::LowTraffic => "low_traffic",
            Verdict::Error => "error",
        }
    }
}

/// Why there is no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoDataCause {
    /// No series matched over the whole SLO period.
    SeriesNeverThere,
    /// Series existed in the SLO period but stopped before the window.
    SeriesGone,
    /// The SLI reads recorded series that do not exist: the rules are not loaded.
    RulesNotLoaded,
    /// The series exist but counted no request in the window.
    ZeroRequests,
}

/// The settings of one evaluation.
#[derive(Debug, Clone)]
pub struct Params {
    /// Evaluation time, unix seconds.
    pub at: i64,
    /// What is measured: the last `window` before `at`.
    pub window: Span,
    /// Burn rate above which an SLO is breached.
    pub max_burn: f64,
    /// What an exhausted period budget does.
    pub budget_policy: BudgetPolicy,
    /// Fewer requests than this is low traffic.
    pub min_events: f64,
    /// Fetch the error ratio over the window as a series (for charts).
    pub history: bool,
}

/// The result for one SLO.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// SLO name.
    pub name: String,
    /// Service.
    pub service: String,
    /// What it measures.
    pub slo: String,
    /// Objective as a ratio.
    pub objective: f64,
    /// Evaluation window.
    pub window: Span,
    /// good / total over the window.
    pub sli: Option<f64>,
    /// 1 - sli.
    pub error_ratio: Option<f64>,
    /// error_ratio / (1 - objective).
    pub burn_rate: Option<f64>,
    /// Requests over the window.
    pub requests: Option<f64>,
    /// Bad requests over the window.
    pub bad_requests: Option<f64>,
    /// Requests per second over the window.
    pub request_rate: Option<f64>,
    /// Share of the period's budget left.
    pub budget_remaining: Option<f64>,
    /// The SLO period.
    pub period: Span,
    /// The judgement.
    pub verdict: Verdict,
    /// Why, in words, with the numbers.
    pub reason: String,
    /// Why there is no data, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_data_cause: Option<NoDataCause>,
    /// Every query asked for this SLO.
    pub queries: Vec<String>,
    /// Warnings from the server or about the data.
    pub warnings: Vec<String>,
    /// Where the definition came from.
    pub origin: String,
    /// Error ratio over the window, `(unix seconds, ratio)`, for charts.
    #[serde(skip)]
    pub history: Vec<(f64, f64)>,
    /// The recorded series this SLO's alerts read, when it has no recent sample.
    #[serde(skip)]
    pub rules_missing: Option<Span>,
}

/// The queries of one SLO, in the order they are asked.
pub struct Plan {
    /// Bad (or good) events over the window; with time slices, the share of good slices
    /// (or the slices' mean ratio).
    pub numerator_window: String,
    /// All events over the window; none with time slices, whose numerator is a share.
    pub total_window: Option<String>,
    /// The same over the SLO period.
    pub numerator_period: String,
    /// The same over the SLO period.
    pub total_period: Option<String>,
    /// With time slices: the requests over the window, for traffic and no-data checks.
    pub events_window: Option<String>,
    /// The range the period's budget is measured over.
    pub period: Span,
}

impl Plan {
    /// The queries of `def` for `window` at `at`.
    pub fn new(def: &SloDefinition, window: Span, at: i64) -> Self {
        let period = def.period_range(at);
        // Slices are evaluated by a subquery stepping by the slice: each step's ratio
        // is that of the slice ending there; slices without requests are left out.
        let sliced = |slice: Span, good: &dyn Fn(&str) -> String| {
            let ratio = Self::slice_ratio(def, slice);
            // A second short of the range: the slices ending within it, the same count
            // whether the server's subquery includes its start (Prometheus 2,
            // VictoriaMetrics) or not (Prometheus 3). One average, not a sum and a
            // count: a 28d period of 1m slices is 40320 steps, evaluated once.
            let over = |range: Span| {
                let range = Span::from_secs(range.secs().saturating_sub(1).max(1));
                format!("avg_over_time(({})[{range}:{slice}])", good(&ratio))
            };
            Self {
                numerator_window: over(window),
                total_window: None,
                numerator_period: over(period),
                total_period: None,
                events_window: def.threshold.is_none().then(|| def.total.over(window)),
                period,
            }
        };
        match def.budgeting {
            Budgeting::Occurrences => Self {
                numerator_window: def.numerator.over(window),
                total_window: Some(def.total.over(window)),
                numerator_period: def.numerator.over(period),
                total_period: Some(def.total.over(period)),
                events_window: None,
                period,
            },
            Budgeting::Timeslices { target, slice } => {
                sliced(slice, &|ratio| format!("({ratio}) >= bool {target}"))
            }
            Budgeting::RatioTimeslices { slice } => sliced(slice, &|ratio| ratio.to_owned()),
        }
    }

    /// The ratio of good events over the `slice` ending at each step.
    fn slice_ratio(def: &SloDefinition, slice: Span) -> String {
        if let Some(t) = &def.threshold {
            // 1 for a slice whose value is on the good side of the threshold, else 0.
            return format!("({}) {} bool {}", def.numerator.over(slice), t.op, t.value);
        }
        let (n, t) = (def.numerator.over(slice), def.total.over(slice));
        match def.numerator_kind {
            Numerator::Good => format!("({n}) / ({t} > 0)"),
            Numerator::Bad => format!("1 - (({n} or vector(0)) / ({t} > 0))"),
            Numerator::ErrorRatio => format!("1 - ({n})"),
        }
    }

    /// The error ratio over `range`, for a chart.
    pub fn error_ratio(def: &SloDefinition, range: Span) -> String {
        let (n, t) = (def.numerator.over(range), def.total.over(range));
        match def.numerator_kind {
            Numerator::Bad => format!("({n} or vector(0)) / ({t})"),
            Numerator::ErrorRatio => n,
            Numerator::Good => format!("1 - (({n}) / ({t}))"),
        }
    }

    /// The diagnostic queries asked when there is no data.
    pub fn diagnostics(def: &SloDefinition) -> Vec<String> {
        def.total
            .selectors()
            .iter()
            .map(|s| promql::presence(s, def.period))
            .collect()
    }
}

/// Evaluates every SLO; a query failure makes that SLO's verdict `error`.
pub async fn evaluate(
    client: &Client,
    defs: &[SloDefinition],
    params: &Params,
) -> (Vec<Outcome>, Vec<String>) {
    let auth = match client.authorization() {
        Ok(a) => a,
        Err(e) => {
            let outcomes = defs
                .iter()
                .map(|d| failed(d, params, Vec::new(), &e))
                .collect();
            return (outcomes, Vec::new());
        }
    };
    let auth = Arc::new(auth);
    let mut set = JoinSet::new();
    for (i, def) in defs.iter().enumerate() {
        let (client, def, params, auth) =
            (client.clone(), def.clone(), params.clone(), auth.clone());
        set.spawn(async move { (i, one(&client, auth.as_ref().as_ref(), &def, &params).await) });
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; defs.len()];
    while let Some(joined) = set.join_next().await {
        let (i, outcome) = joined.expect("an evaluation task never panics");
        outcomes[i] = Some(outcome);
    }
    let outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();
    let mut warnings: Vec<String> = rules_missing(&outcomes).into_iter().collect();
    for o in &outcomes {
        for w in &o.warnings {
            if !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
    }
    (outcomes, warnings)
}

/// One warning for every SLO whose recorded series is missing: one cause, said once.
fn rules_missing(outcomes: &[Outcome]) -> Option<String> {
    let missing: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.rules_missing.is_some())
        .collect();
    let range = missing.first()?.rules_missing?;
    let names: Vec<&str> = missing.iter().map(|o| o.name.as_str()).collect();
    Some(format!(
        "recording rules not loaded: the recorded error ratio of {} {} has no sample in the \
         last {range}, so {} alerts cannot fire",
        if names.len() == 1 { "SLO" } else { "SLOs" },
        names.join(", "),
        if names.len() == 1 { "its" } else { "their" },
    ))
}

/// An outcome with no numbers yet (verdict `error` until one is set).
pub fn skeleton(def: &SloDefinition, params: &Params) -> Outcome {
    base(def, params, Vec::new())
}

fn base(def: &SloDefinition, params: &Params, queries: Vec<String>) -> Outcome {
    Outcome {
        name: def.name.clone(),
        service: def.service.clone(),
        slo: def.slo.clone(),
        objective: def.objective,
        window: params.window,
        sli: None,
        error_ratio: None,
        burn_rate: None,
        requests: None,
        bad_requests: None,
        request_rate: None,
        budget_remaining: None,
        period: def.period_at(params.at),
        verdict: Verdict::Error,
        reason: String::new(),
        no_data_cause: None,
        queries,
        warnings: Vec::new(),
        origin: def.origin.clone(),
        history: Vec::new(),
        rules_missing: None,
    }
}

fn failed(def: &SloDefinition, params: &Params, queries: Vec<String>, e: &QueryError) -> Outcome {
    let mut o = base(def, params, queries);
    o.reason = format!("query error: {e}");
    o
}

/// Percent with up to 4 decimals and no trailing zeros: `0.48%`, `0.1%`.
pub fn percent(ratio: f64) -> String {
    let text = format!("{:.4}", ratio * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// A number with up to `digits` decimals and no trailing zeros.
pub fn short(value: f64, digits: usize) -> String {
    let text = format!("{value:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

async fn one(
    client: &Client,
    auth: Option<&Auth>,
    def: &SloDefinition,
    params: &Params,
) -> Outcome {
    let plan = Plan::new(def, params.window, params.at);
    let queries: Vec<String> = [
        Some(&plan.numerator_window),
        plan.total_window.as_ref(),
        Some(&plan.numerator_period),
        plan.total_period.as_ref(),
        plan.events_window.as_ref(),
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    let at = params.at;
    let answers = tokio::try_join!(
        client.query(auth, &plan.numerator_window, at),
        optional(client, auth, plan.total_window.as_ref(), at),
        client.query(auth, &plan.numerator_period, at),
        optional(client, auth, plan.total_period.as_ref(), at),
        optional(client, auth, plan.events_window.as_ref(), at),
    );
    let (n_w, t_w, n_p, t_p, e_w) = match answers {
        Ok(a) => a,
        Err(e) => return failed(def, params, queries, &e),
    };
    let mut o = base(def, params, queries);
    let mut partial = Vec::new();
    for a in [&n_w, &n_p]
        .into_iter()
        .chain(t_w.as_ref())
        .chain(t_p.as_ref())
        .chain(e_w.as_ref())
    {
        collect_warnings(&mut o.warnings, a);
        if a.partial {
            partial.push(());
        }
    }
    if !partial.is_empty()
        || o.warnings
            .iter()
            .any(|w| w.to_ascii_lowercase().contains("partial"))
    {
        if client.allows_partial() {
            o.warnings
                .push("the server answered with partial data (--allow-partial)".into());
        } else {
            o.reason = "partial response: the server answered without part of the data \
                        (pass --allow-partial to accept it)"
                .into();
            return o;
        }
    }

    if let Some(recorded) = &def.recorded_error_ratio {
        let range = Span::from_secs(params.window.secs().max(300));
        let q = promql::presence(recorded, range);
        o.queries.push(q.clone());
        match client.query(auth, &q, at).await {
            Ok(a) if a.samples.is_empty() => o.rules_missing = Some(range),
            Ok(a) => collect_warnings(&mut o.warnings, &a),
            Err(e) => o
                .warnings
                .push(format!("could not check the recorded series: {e}")),
        }
    }

    if def.numerator_kind == Numerator::ErrorRatio {
        return ratio::one(client, auth, def, params, o, &n_w, &n_p).await;
    }
    // Grouped SLIs (Pyrra's) count events, so they always have totals.
    if let (false, Some(t_w), Some(t_p)) = (def.grouping.is_empty(), &t_w, &t_p) {
        return grouped::one(client, auth, def, params, o, [&n_w, t_w, &n_p, t_p]).await;
    }
    let window_secs = params.window.secs() as f64;
    let events_query = plan
        .events_window
        .as_ref()
        .or(plan.total_window.as_ref())
        .cloned()
        .unwrap_or_default();
    let events = e_w.as_ref().or(t_w.as_ref()).and_then(Answer::sum);
    // A threshold metric counts no requests: its slices say whether there was data.
    let traffic = if def.threshold.is_some() {
        None
    } else {
        let Some(total) = events else {
            return no_series(client, auth, def, params, o).await;
        };
        o.requests = Some(total);
        o.request_rate = Some(total / window_secs);
        if let Err(reason) = sane("requests over the window", total) {
            o.reason = reason;
            return o;
        }
        if total == 0.0 {
            o.verdict = Verdict::NoData;
            o.no_data_cause = Some(NoDataCause::ZeroRequests);
            o.reason = format!(
                "zero requests in the window: the series exist but counted nothing over the last {} ({events_query})",
                params.window
            );
            return o;
        }
        Some(total)
    };
    // With time slices the numerator is the share of good slices (or the slices' mean
    // ratio) out of 1; the requests only say whether there was traffic.
    let sliced = t_w.is_none();
    let kind = if sliced {
        Numerator::Good
    } else {
        def.numerator_kind
    };
    let units = if sliced {
        if n_w.sum().is_none() {
            o.verdict = Verdict::NoData;
            o.no_data_cause = Some(if traffic.is_some() {
                NoDataCause::ZeroRequests
            } else {
                NoDataCause::SeriesNeverThere
            });
            o.reason = format!(
                "no slice with requests in the last {} ({})",
                params.window, plan.numerator_window
            );
            return o;
        }
        1.0
    } else {
        traffic.unwrap_or_default()
    };
    let bad = match bad_events(kind, n_w.sum(), units, "window") {
        Ok(b) => b,
        Err(reason) => {
            o.reason = reason;
            return o;
        }
    };
    let error_ratio = bad / units;
    let burn = error_ratio / def.budget();
    o.bad_requests = (!sliced).then_some(bad);
    o.error_ratio = Some(error_ratio);
    o.sli = Some(1.0 - error_ratio);
    o.burn_rate = Some(burn);

    let period_total = match &t_p {
        Some(t) => t.sum(),
        None => n_p.sum().map(|_| 1.0),
    };
    match period_total {
        Some(tp) if tp > 0.0 => match bad_events(kind, n_p.sum(), tp, "SLO period") {
            Ok(bp) => o.budget_remaining = Some(1.0 - (bp / tp) / def.budget()),
            Err(reason) => {
                o.reason = reason;
                return o;
            }
        },
        _ => o.warnings.push(format!(
            "no requests over the SLO period {}: the budget left is unknown",
            plan.period
        )),
    }
    finish(client, auth, def, params, o, traffic).await
}

/// Adds the chart's series and judges the measured outcome; `total` is the number of
/// requests over the window, when the SLI counts them.
async fn finish(
    client: &Client,
    auth: Option<&Auth>,
    def: &SloDefinition,
    params: &Params,
    mut o: Outcome,
    total: Option<f64>,
) -> Outcome {
    let at = params.at;
    let window_secs = params.window.secs() as f64;
    let (Some(error_ratio), Some(burn)) = (o.error_ratio, o.burn_rate) else {
        return o;
    };
    if params.history {
        let step = (params.window.secs() / 48).max(15);
        let range = Span::from_secs(step.max(60));
        let q = Plan::error_ratio(def, range);
        match client
            .query_range(auth, &q, at - params.window.secs() as i64, at, step as i64)
            .await
        {
            Ok(r) => {
                o.history = r.points;
                for w in r.warnings {
                    if !o.warnings.contains(&w) {
                        o.warnings.push(w);
                    }
                }
            }
            Err(e) => o
                .warnings
                .push(format!("could not fetch the chart's series: {e}")),
        }
    }

    let budget = percent(def.budget());
    let measure = match def.budgeting {
        Budgeting::Occurrences => "error ratio".to_owned(),
        Budgeting::Timeslices { slice, .. } => format!("share of bad {slice} slices"),
        Budgeting::RatioTimeslices { slice } => format!("mean error ratio of {slice} slices"),
    };
    let burn_text = format!(
        "{measure} {} over {} is {}x the {budget} budget",
        percent(error_ratio),
        params.window,
        short(burn, 2)
    );
    let rate_low = total.is_some_and(|total| {
        def.min_request_rate
            .is_some_and(|m| total / window_secs < m)
    });
    let few = total.filter(|total| *total < params.min_events);
    let exhausted = o.budget_remaining.is_some_and(|b| b <= 0.0);
    let exhausted_text = o
        .budget_remaining
        .map(|b| format!("the {} budget is spent ({} left)", def.period, percent(b)));
    if few.is_some() || rate_low {
        o.verdict = Verdict::LowTraffic;
        o.reason = if let Some(total) = few {
            format!(
                "{} requests over {} is below --min-events {}: one failure would swing the verdict ({burn_text})",
                short(total, 2),
                params.window,
                short(params.min_events, 2)
            )
        } else {
            format!(
                "{}/s over {} is below the SLO's min_request_rate {}/s ({burn_text})",
                short(total.unwrap_or_default() / window_secs, 4),
                params.window,
                short(def.min_request_rate.unwrap_or_default(), 6)
            )
        };
    } else if burn > params.max_burn {
        o.verdict = Verdict::Breached;
        o.reason = format!(
            "{burn_text}, above --max-burn {}",
            short(params.max_burn, 4)
        );
    } else if exhausted && params.budget_policy == BudgetPolicy::Fail {
        o.verdict = Verdict::Breached;
        o.reason = format!(
            "{} (--budget-policy fail); {burn_text}",
            exhausted_text.clone().unwrap_or_default()
        );
    } else {
        o.verdict = Verdict::Met;
        o.reason = burn_text;
    }
    if exhausted && params.budget_policy == BudgetPolicy::Warn {
        o.warnings.push(format!(
            "{}: {} (--budget-policy warn)",
            def.name,
            exhausted_text.unwrap_or_default()
        ));
    }
    o
}

/// The answer to `query` when the plan has one.
async fn optional(
    client: &Client,
    auth: Option<&Auth>,
    query: Option<&String>,
    at: i64,
) -> Result<Option<Answer>, QueryError> {
    match query {
        Some(q) => client.query(auth, q, at).await.map(Some),
        None => Ok(None),
    }
}

fn collect_warnings(into: &mut Vec<String>, answer: &Answer) {
    for w in answer.warnings.iter().chain(&answer.infos) {
        if !into.contains(w) {
            into.push(w.clone());
        }
    }
}

/// `o` judged as having no data, for `cause`, with `reason` (which prints the query).
fn no_data(mut o: Outcome, cause: NoDataCause, reason: String) -> Outcome {
    o.verdict = Verdict::NoData;
    o.no_data_cause = Some(cause);
    o.reason = reason;
    o
}

/// A count must be a finite number, at least 0.
fn sane(what: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(format!(
            "data error: {what} is {value}, not a count of events"
        ))
    }
}

/// Bad events out of `total`; more bad (or good) events than requests is a data error,
/// reported with the numbers rather than clamped.
fn bad_events(
    kind: Numerator,
    numerator: Option<f64>,
    total: f64,
    over: &str,
) -> Result<f64, String> {
    // Counter increases are extrapolated; a few parts in a billion are not a contradiction.
    let slack = total * 1e-9 + 1e-9;
    match (kind, numerator) {
        // No bad series yet: no 5xx was ever counted.
        (Numerator::Bad | Numerator::ErrorRatio, None) => Ok(0.0),
        (Numerator::Bad | Numerator::ErrorRatio, Some(bad)) => {
            sane(&format!("bad events over the {over}"), bad)?;
            if bad > total + slack {
                return Err(format!(
                    "data error: {} bad events out of {} over the {over} (bad > total)",
                    short(bad, 3),
                    short(total, 3)
                ));
            }
            Ok(bad.min(total))
        }
        (Numerator::Good, None) => Err(format!(
            "data error: the `good` query matches no series while `total` counts {} events over the \
             {over}: check its selector (for a latency SLO, that `le` names an existing bucket)",
            short(total, 3)
        )),
        (Numerator::Good, Some(good)) => {
            sane(&format!("good events over the {over}"), good)?;
            if good > total + slack {
                return Err(format!(
                    "data error: {} good events out of {} over the {over} (good > total)",
                    short(good, 3),
                    short(total, 3)
                ));
            }
            Ok((total - good).max(0.0))
        }
    }
}

/// No series for the total over the window: find out why.
async fn no_series(
    client: &Client,
    auth: Option<&Auth>,
    def: &SloDefinition,
    params: &Params,
    mut o: Outcome,
) -> Outcome {
    o.verdict = Verdict::NoData;
    let selectors = def.total.selectors();
    let recorded: Vec<&String> = selectors.iter().filter(|s| is_recorded(s)).collect();
    let mut seen_in_period = false;
    for (selector, q) in selectors.iter().zip(Plan::diagnostics(def)) {
        o.queries.push(q.clone());
        match client.query(auth, &q, params.at).await {
            Ok(a) => seen_in_period |= !a.samples.is_empty(),
            Err(e) => {
                o.verdict = Verdict::Error;
                o.reason =
                    format!("query error while explaining missing data for `{selector}`: {e}");
                return o;
            }
        }
    }
    let plan = Plan::new(def, params.window, params.at);
    let total_query = plan.events_window.or(plan.total_window).unwrap_or_default();
    let (cause, reason) = if !recorded.is_empty() && !seen_in_period {
        (
            NoDataCause::RulesNotLoaded,
            format!(
                "rules not loaded: the recorded series {} have no sample in the last {} ({total_query})",
                recorded
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                def.period
            ),
        )
    } else if seen_in_period {
        (
            NoDataCause::SeriesGone,
            format!(
                "series gone: {} reported within the last {} but not over the last {} ({total_query})",
                selectors.join(", "),
                def.period,
                params.window
            ),
        )
    } else {
        (
            NoDataCause::SeriesNeverThere,
            format!(
                "series never there: no series matches {} in the last {} ({total_query})",
                selectors.join(", "),
                def.period
            ),
        )
    };
    o.no_data_cause = Some(cause);
    o.reason = reason;
    o
}
