//! Judging an SLO whose SLI is an error ratio query (Sloth's `sli.raw`, OpenSLO's
//! `ratioMetric.raw`, whose share of good events is asked as `1 - (query)`): the ratio over
//! the window and over the SLO period come straight from the query, so there is no
//! count of requests. `requests` and `request_rate` stay unknown and `--min-events`
//! cannot apply, which the report says. A ratio of no requests is `NaN` (0/0): that is
//! no data with zero requests, never a pass.

use super::{
    Answer, Auth, Client, NoDataCause, Outcome, Params, Plan, SloDefinition, finish, no_data,
    no_series, percent, short,
};

/// One SLO over its error ratio query, answered as `window` and `period`.
pub(super) async fn one(
    client: &Client,
    auth: Option<&Auth>,
    def: &SloDefinition,
    params: &Params,
    mut o: Outcome,
    window: &Answer,
    period: &Answer,
) -> Outcome {
    // The plan asked the same query as numerator and total; show it once per range.
    o.queries = dedup(o.queries);
    let query = def.numerator.over(params.window);
    let ratio = match value(window, &query) {
        Ok(Some(r)) => r,
        Ok(None) => return empty(client, auth, def, params, o, &query).await,
        Err(reason) => {
            o.reason = reason;
            return o;
        }
    };
    if ratio.is_nan() {
        let reason = format!(
            "zero requests in the window: the error ratio over the last {} is NaN (0/0) ({query})",
            params.window
        );
        return no_data(o, NoDataCause::ZeroRequests, reason);
    }
    if let Err(reason) = within(ratio, "over the window") {
        o.reason = reason;
        return o;
    }
    o.error_ratio = Some(ratio);
    o.sli = Some(1.0 - ratio);
    o.burn_rate = Some(ratio / def.budget());
    o.warnings.push(format!(
        "{}: requests unknown: an error ratio query does not count requests, so --min-events \
         and the request rate do not apply",
        def.name
    ));
    match value(period, &def.numerator.over(def.period)) {
        Ok(Some(r)) if r.is_finite() => match within(r, "over the SLO period") {
            Ok(()) => o.budget_remaining = Some(1.0 - r / def.budget()),
            Err(reason) => {
                o.reason = reason;
                return o;
            }
        },
        Ok(_) => o.warnings.push(format!(
            "no requests over the SLO period {}: the budget left is unknown",
            def.period
        )),
        Err(reason) => {
            o.reason = reason;
            return o;
        }
    }
    finish(client, auth, def, params, o, None).await
}

/// An empty ratio: a side with no series at all empties the whole division, which the
/// report names; when every side has series, the general diagnosis applies.
async fn empty(
    client: &Client,
    auth: Option<&Auth>,
    def: &SloDefinition,
    params: &Params,
    mut o: Outcome,
    query: &str,
) -> Outcome {
    let mut missing = Vec::new();
    for (selector, q) in def.total.selectors().iter().zip(Plan::diagnostics(def)) {
        o.queries.push(q.clone());
        match client.query(auth, &q, params.at).await {
            Ok(a) if a.samples.is_empty() => missing.push(format!("`{selector}`")),
            Ok(_) => {}
            Err(e) => {
                o.reason =
                    format!("query error while explaining missing data for `{selector}`: {e}");
                return o;
            }
        }
    }
    if missing.is_empty() {
        return no_series(client, auth, def, params, o).await;
    }
    let reason = format!(
        "series never there: no series matches {} in the last {}, so the error ratio is \
         empty ({query}); if it counts errors that never happened, write `(... or vector(0))` \
         around it",
        missing.join(", "),
        def.period
    );
    no_data(o, NoDataCause::SeriesNeverThere, reason)
}

/// The one number of a ratio answer; several series cannot be one SLI.
fn value(answer: &Answer, query: &str) -> Result<Option<f64>, String> {
    match answer.samples.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.value)),
        several => Err(format!(
            "data error: the error ratio query answers {} series, not one: aggregate it (e.g. \
             with `sum`) so it is the ratio of the whole SLO ({query})",
            several.len()
        )),
    }
}

/// An error ratio is a share: between 0 and 1.
fn within(ratio: f64, over: &str) -> Result<(), String> {
    if (0.0..=1.0).contains(&ratio) {
        Ok(())
    } else {
        Err(format!(
            "data error: the error ratio {over} is {}, not a share between 0 and 1 ({})",
            short(ratio, 6),
            percent(ratio)
        ))
    }
}

fn dedup(queries: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for q in queries {
        if !out.contains(&q) {
            out.push(q);
        }
    }
    out
}
