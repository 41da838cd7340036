//! Judging an SLO grouped by labels (Pyrra's `grouping`): the queries answer one series
//! per group, each group is judged on its own as Pyrra does, and the SLO takes the
//! verdict of its worst group, so a breaching group is never hidden by the others.
//!
//! - Groups with fewer than `--min-events` requests over the window are not judged (one
//!   failure would swing them); when no group has enough, the SLO is `low_traffic`.
//! - The SLI, burn rate and requests reported are those of the group burning fastest;
//!   `budget_remaining` is the lowest of the groups', the most spent budget.
//! - The reason names that group and how many were judged.

use std::collections::BTreeMap;

use super::{
    Answer, Auth, Client, NoDataCause, Outcome, Params, SloDefinition, bad_events, finish, no_data,
    no_series, sane,
};

/// One group's numbers over a range.
struct Group {
    requests: f64,
    bad: f64,
}

/// One grouped SLO from its four answers, each with a series per group.
pub(super) async fn one(
    client: &Client,
    auth: Option<&Auth>,
    def: &SloDefinition,
    params: &Params,
    mut o: Outcome,
    [n_w, t_w, n_p, t_p]: [&Answer; 4],
) -> Outcome {
    if t_w.samples.is_empty() {
        return no_series(client, auth, def, params, o).await;
    }
    let window = match groups(def, n_w, t_w, "window") {
        Ok(g) => g,
        Err(reason) => {
            o.reason = reason;
            return o;
        }
    };
    let period = match groups(def, n_p, t_p, "SLO period") {
        Ok(g) => g,
        Err(reason) => {
            o.reason = reason;
            return o;
        }
    };
    if window.values().all(|g| g.requests == 0.0) {
        let reason = format!(
            "zero requests in the window: no group counted a request over the last {} ({})",
            params.window,
            def.total.over(params.window)
        );
        return no_data(o, NoDataCause::ZeroRequests, reason);
    }
    let burn = |g: &Group| g.bad / g.requests / def.budget();
    let judged: Vec<(&String, &Group)> = window
        .iter()
        .filter(|(_, g)| g.requests > 0.0 && g.requests >= params.min_events)
        .collect();
    // The fastest-burning group among those with enough traffic; without any, the
    // busiest group, which is then low traffic.
    let worst = judged
        .iter()
        .copied()
        .max_by(|a, b| burn(a.1).total_cmp(&burn(b.1)))
        .or_else(|| {
            window
                .iter()
                .max_by(|a, b| a.1.requests.total_cmp(&b.1.requests))
        });
    let Some((name, g)) = worst else {
        return no_series(client, auth, def, params, o).await;
    };
    let error_ratio = g.bad / g.requests;
    o.requests = Some(g.requests);
    o.request_rate = Some(g.requests / params.window.secs() as f64);
    o.bad_requests = Some(g.bad);
    o.error_ratio = Some(error_ratio);
    o.sli = Some(1.0 - error_ratio);
    o.burn_rate = Some(burn(g));
    o.budget_remaining = period
        .values()
        .filter(|p| p.requests > 0.0)
        .map(|p| 1.0 - (p.bad / p.requests) / def.budget())
        .min_by(f64::total_cmp);
    let requests = g.requests;
    let mut o = finish(client, auth, def, params, o, Some(requests)).await;
    o.reason = if judged.is_empty() {
        format!(
            "{} (group {name}, the busiest of {} groups; none has --min-events requests)",
            o.reason,
            window.len()
        )
    } else {
        format!(
            "{} (group {name}, the worst of {} judged of {} groups)",
            o.reason,
            judged.len(),
            window.len()
        )
    };
    o
}

/// Requests and bad events per group, keyed by the group's labels as PromQL writes them.
fn groups(
    def: &SloDefinition,
    numerator: &Answer,
    total: &Answer,
    over: &str,
) -> Result<BTreeMap<String, Group>, String> {
    let key = |labels: &BTreeMap<String, String>| {
        let parts: Vec<String> = def
            .grouping
            .iter()
            .map(|l| format!("{l}=\"{}\"", labels.get(l).map_or("", String::as_str)))
            .collect();
        format!("{{{}}}", parts.join(","))
    };
    let mut out = BTreeMap::new();
    for t in &total.samples {
        let k = key(&t.labels);
        sane(&format!("requests of {k} over the {over}"), t.value)?;
        let n = numerator
            .samples
            .iter()
            .find(|s| key(&s.labels) == k)
            .map(|s| s.value);
        let bad = if t.value > 0.0 {
            bad_events(def.numerator_kind, n, t.value, &format!("{over} in {k}"))?
        } else {
            0.0
        };
        out.insert(
            k,
            Group {
                requests: t.value,
                bad,
            },
        );
    }
    Ok(out)
}
