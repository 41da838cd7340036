//! `--format markdown`: a table for a pull-request comment, breached SLOs first.

use super::{Report, round};
use crate::evaluate::{Verdict, percent, short};

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "✅ met",
        Verdict::Breached => "❌ breached",
        Verdict::Error => "⚠️ error",
        Verdict::NoData => "❔ no data",
        Verdict::LowTraffic => "❔ low traffic",
    }
}

pub(super) fn render(report: &Report) -> String {
    let mut out = format!(
        "### SLO check: {} (exit {})\n\nEvaluated at `{}` over `{}`{} against `{}`.\n\n",
        report.verdict().as_str(),
        report.exit_code(),
        Report::time(report.evaluated_at),
        report.window,
        report
            .since
            .map(|s| format!(" (since `{}`)", Report::time(s)))
            .unwrap_or_default(),
        report.prometheus
    );
    out.push_str("| verdict | SLO | objective | SLI | burn | budget left | requests | reason |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---|\n");
    for o in &report.slos {
        let opt =
            |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map(f).unwrap_or_else(|| "–".into());
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} | {} | {} |\n",
            icon(o.verdict),
            o.name,
            percent(o.objective),
            opt(o.sli, &|v| percent(round(v, 8))),
            opt(o.burn_rate, &|v| format!("{}×", short(v, 2))),
            opt(o.budget_remaining, &percent),
            opt(o.requests, &|v| short(v, 0)),
            cell(&o.reason)
        ));
    }
    if let Some(note) = &report.note {
        out.push_str(&format!("\n{}\n", cell(note)));
    }
    if !report.warnings.is_empty() {
        out.push_str("\n**Warnings**\n\n");
        for w in &report.warnings {
            out.push_str(&format!("- {}\n", cell(w)));
        }
    }
    out
}
