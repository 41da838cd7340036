//! A run's result and the formats it is written in.

mod html;
mod json;
mod junit;
mod markdown;
mod table;

use kubestore_core::slo_check::exit;

use crate::cli::Format;
use crate::evaluate::{Outcome, Verdict};
use crate::span::Span;

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct Report {
    /// Evaluation time, unix seconds.
    pub evaluated_at: i64,
    /// Server URL.
    pub prometheus: String,
    /// Evaluation window.
    pub window: Span,
    /// Start of the measured traffic with `--since` or `--soak`, unix seconds.
    pub since: Option<i64>,
    /// Per SLO, breached first.
    pub slos: Vec<Outcome>,
    /// Warnings of the whole run, each once.
    pub warnings: Vec<String>,
    /// With `--allow-no-data`.
    pub allow_no_data: bool,
    /// Set when a soak stopped early.
    pub note: Option<String>,
}

impl Report {
    /// A report with its SLOs in report order: breached, error, no data, low traffic,
    /// met; by name within each.
    pub fn new(mut slos: Vec<Outcome>, mut base: Report) -> Self {
        slos.sort_by(|a, b| a.verdict.cmp(&b.verdict).then_with(|| a.name.cmp(&b.name)));
        base.slos = slos;
        base
    }

    /// The worst verdict.
    pub fn verdict(&self) -> Verdict {
        self.slos
            .iter()
            .map(|o| o.verdict)
            .min()
            .unwrap_or(Verdict::NoData)
    }

    /// The contract's exit code.
    pub fn exit_code(&self) -> i32 {
        let has = |v: Verdict| self.slos.iter().any(|o| o.verdict == v);
        if has(Verdict::Breached) {
            exit::BREACHED
        } else if has(Verdict::Error) {
            exit::UNREACHABLE
        } else if (has(Verdict::NoData) || has(Verdict::LowTraffic)) && !self.allow_no_data {
            exit::NO_DATA
        } else {
            exit::MET
        }
    }

    /// RFC 3339, UTC, seconds.
    pub fn time(unix: i64) -> String {
        chrono::DateTime::from_timestamp(unix, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| unix.to_string())
    }

    /// One line for logs and the termination message: the overall verdict and the SLOs
    /// that are not met.
    pub fn verdict_line(&self) -> String {
        let count = |v: Verdict| self.slos.iter().filter(|o| o.verdict == v).count();
        let mut line = format!(
            "slo-check: {} (exit {}): {} met, {} breached, {} no data, {} low traffic, {} errors at {} over {}",
            self.verdict().as_str(),
            self.exit_code(),
            count(Verdict::Met),
            count(Verdict::Breached),
            count(Verdict::NoData),
            count(Verdict::LowTraffic),
            count(Verdict::Error),
            Self::time(self.evaluated_at),
            self.window
        );
        let worst: Vec<String> = self
            .slos
            .iter()
            .filter(|o| o.verdict != Verdict::Met)
            .take(3)
            .map(|o| format!("{} {}: {}", o.name, o.verdict.as_str(), o.reason))
            .collect();
        if !worst.is_empty() {
            line.push_str("; ");
            line.push_str(&worst.join("; "));
        }
        line
    }

    /// The report in `format`; `color` only applies to the table.
    pub fn render(&self, format: Format, color: bool) -> String {
        match format {
            Format::Table => table::render(self, color),
            Format::Json => json::render(self),
            Format::Junit => junit::render(self),
            Format::Markdown => markdown::render(self),
            Format::Html => html::render(self),
        }
    }
}

/// A ratio rounded to 10 decimals, so reports show `0.0048`, not `0.004800000000000004`.
pub fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    let rounded = (value * scale).round() / scale;
    if rounded == 0.0 { 0.0 } else { rounded }
}
