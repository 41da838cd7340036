//! `--format html`: one self-contained page (inline CSS and SVG, nothing fetched) with
//! a card per SLO, breached first, and a small chart of its error ratio over the window
//! against the budget line.

use super::{Report, round};
use crate::evaluate::{Outcome, Verdict, percent, short};

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn class(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "met",
        Verdict::Breached | Verdict::Error => "bad",
        Verdict::NoData | Verdict::LowTraffic => "unknown",
    }
}

const W: f64 = 360.0;
const H: f64 = 120.0;
const PAD: f64 = 28.0;

/// The error ratio as a line, the budget as a dashed line; the y axis reaches the
/// higher of the two so the budget line is always visible.
fn chart(o: &Outcome, start: f64, end: f64) -> String {
    let budget = 1.0 - o.objective;
    let points: Vec<(f64, f64)> = o
        .history
        .iter()
        .copied()
        .filter(|(_, v)| v.is_finite())
        .collect();
    let top = points
        .iter()
        .map(|p| p.1)
        .fold(budget * 2.0, f64::max)
        .clamp(1e-9, 1.0);
    let span = (end - start).max(1.0);
    let x = |t: f64| PAD + (t - start) / span * (W - PAD - 8.0);
    let y = |v: f64| H - 18.0 - (v / top).clamp(0.0, 1.0) * (H - 30.0);
    let mut svg = format!(
        r##"<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="error ratio of {name} over the window against its budget">"##,
        name = esc(&o.name)
    );
    svg.push_str(&format!(
        r##"<line x1="{PAD}" y1="{b}" x2="{W}" y2="{b}" class="axis"/><line x1="{PAD}" y1="8" x2="{PAD}" y2="{b}" class="axis"/>"##,
        b = H - 18.0
    ));
    let by = y(budget);
    svg.push_str(&format!(
        r##"<line x1="{PAD}" y1="{by:.1}" x2="{W}" y2="{by:.1}" class="budget"/><text x="{tx}" y="{ty:.1}" class="label">budget {}</text>"##,
        esc(&percent(budget)),
        tx = W - 90.0,
        ty = by - 3.0
    ));
    svg.push_str(&format!(
        r##"<text x="2" y="14" class="label">{}</text><text x="2" y="{}" class="label">0</text>"##,
        esc(&percent(round(top, 6))),
        H - 18.0
    ));
    svg.push_str(&format!(
        r##"<text x="{PAD}" y="{ly}" class="label">-{}</text><text x="{ex}" y="{ly}" class="label">now</text>"##,
        o.window,
        ly = H - 4.0,
        ex = W - 30.0
    ));
    if points.is_empty() {
        svg.push_str(&format!(
            r##"<text x="{cx}" y="{cy}" class="label">no series over the window</text>"##,
            cx = W / 2.0 - 70.0,
            cy = H / 2.0
        ));
    } else {
        let path: Vec<String> = points
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        svg.push_str(&format!(
            r##"<polyline points="{}" class="ratio {}"/>"##,
            path.join(" "),
            class(o.verdict)
        ));
    }
    svg.push_str("</svg>");
    svg
}

pub(super) fn render(report: &Report) -> String {
    let end = report.evaluated_at as f64;
    let start = end - report.window.secs() as f64;
    let mut cards = String::new();
    for o in &report.slos {
        let opt =
            |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map(f).unwrap_or_else(|| "–".into());
        cards.push_str(&format!(
            r##"<section class="card {cls}"><h2><span class="verdict {cls}">{verdict}</span> {name}</h2>
<p class="numbers">objective {objective} · SLI {sli} · burn {burn} · budget left ({period}) {budget} · {requests} requests</p>
{chart}
<p class="reason">{reason}</p>{warnings}</section>
"##,
            cls = class(o.verdict),
            verdict = o.verdict.as_str(),
            name = esc(&o.name),
            objective = percent(o.objective),
            sli = opt(o.sli, &|v| percent(round(v, 8))),
            burn = opt(o.burn_rate, &|v| format!("{}×", short(v, 2))),
            period = o.period,
            budget = opt(o.budget_remaining, &percent),
            requests = opt(o.requests, &|v| short(v, 0)),
            chart = chart(o, start, end),
            reason = esc(&o.reason),
            warnings = o
                .warnings
                .iter()
                .map(|w| format!(r#"<p class="warning">warning: {}</p>"#, esc(w)))
                .collect::<String>(),
        ));
    }
    let warnings: String = report
        .warnings
        .iter()
        .map(|w| format!("<li>{}</li>", esc(w)))
        .collect();
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>SLO check: {verdict}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b1f24;background:#f6f8fa}}
h1{{font-size:20px;margin:0 0 4px}} .meta{{color:#57606a;margin:0 0 16px}}
.grid{{display:flex;flex-wrap:wrap;gap:16px}}
.card{{overflow-wrap:anywhere;background:#fff;border:1px solid #d0d7de;border-left:6px solid #2da44e;border-radius:6px;padding:12px 16px;width:400px}}
.card.bad{{border-left-color:#cf222e}} .card.unknown{{border-left-color:#bf8700}}
h2{{font-size:15px;margin:0 0 6px}} .numbers{{margin:0 0 6px;color:#57606a;font-size:12px}}
.verdict{{font-size:11px;text-transform:uppercase;padding:1px 6px;border-radius:10px;color:#fff;background:#2da44e}}
.verdict.bad{{background:#cf222e}} .verdict.unknown{{background:#bf8700}}
.reason{{margin:6px 0 0;font-size:12px}} .warning{{margin:4px 0 0;font-size:12px;color:#9a6700}}
.chart .axis{{stroke:#8c959f;stroke-width:1}} .chart .budget{{stroke:#cf222e;stroke-width:1;stroke-dasharray:4 3}}
.chart .ratio{{fill:none;stroke:#0969da;stroke-width:2}} .chart .ratio.bad{{stroke:#cf222e}}
.chart .label{{font-size:10px;fill:#57606a}}
</style></head><body>
<h1>SLO check: {verdict} (exit {exit})</h1>
<p class="meta">evaluated at {at} over {window}{since} against {prometheus}</p>
{warn_block}<div class="grid">
{cards}</div>
</body></html>
"##,
        verdict = report.verdict().as_str(),
        exit = report.exit_code(),
        at = Report::time(report.evaluated_at),
        window = report.window,
        since = report
            .since
            .map(|s| format!(" (since {})", Report::time(s)))
            .unwrap_or_default(),
        prometheus = esc(&report.prometheus),
        warn_block = if warnings.is_empty() {
            String::new()
        } else {
            format!(r#"<ul class="warning">{warnings}</ul>"#)
        },
    )
}
