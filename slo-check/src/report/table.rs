//! `--format table`: one aligned line per SLO, for people.

use super::{Report, round};
use crate::evaluate::{Verdict, percent, short};

fn paint(text: &str, verdict: Verdict, color: bool) -> String {
    if !color {
        return text.to_owned();
    }
    let code = match verdict {
        Verdict::Met => "32",
        Verdict::Breached | Verdict::Error => "31",
        Verdict::NoData | Verdict::LowTraffic => "33",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn opt(value: Option<f64>, f: impl Fn(f64) -> String) -> String {
    value.map(f).unwrap_or_else(|| "-".into())
}

pub(super) fn render(report: &Report, color: bool) -> String {
    let header = [
        "VERDICT",
        "SLO",
        "OBJECTIVE",
        "SLI",
        "BURN",
        "BUDGET LEFT",
        "REQUESTS",
        "REASON",
    ];
    let rows: Vec<(Verdict, [String; 8])> = report
        .slos
        .iter()
        .map(|o| {
            (
                o.verdict,
                [
                    o.verdict.as_str().to_owned(),
                    o.name.clone(),
                    percent(o.objective),
                    opt(o.sli, |v| percent(round(v, 8))),
                    opt(o.burn_rate, |v| format!("{}x", short(v, 2))),
                    opt(o.budget_remaining, percent),
                    opt(o.requests, |v| short(v, 0)),
                    o.reason.clone(),
                ],
            )
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for (_, row) in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String], verdict: Option<Verdict>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let last = i + 1 == cells.len();
            let padded = if last {
                cell.clone()
            } else {
                format!("{cell:<width$}  ", width = widths[i])
            };
            match (i, verdict) {
                (0, Some(v)) => out.push_str(&paint(&padded, v, color)),
                _ => out.push_str(&padded),
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = String::new();
    out.push_str(&line(&header.map(str::to_owned), None));
    out.push('\n');
    for (verdict, row) in &rows {
        out.push_str(&line(row, Some(*verdict)));
        out.push('\n');
    }
    out.push_str(&format!(
        "\nevaluated at {} over {}{} against {}\n",
        Report::time(report.evaluated_at),
        report.window,
        report
            .since
            .map(|s| format!(" (since {})", Report::time(s)))
            .unwrap_or_default(),
        report.prometheus
    ));
    if let Some(note) = &report.note {
        out.push_str(&format!("{note}\n"));
    }
    for w in &report.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out.push_str(&format!("{}\n", report.verdict_line()));
    out
}
