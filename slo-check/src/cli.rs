//! The command line. Flag names live in [`flags`], which the generator's PostSync Job
//! renderer uses too, so a flag is spelled once.

use std::path::PathBuf;

use clap::{ArgGroup, Parser, ValueEnum};

use crate::evaluate::BudgetPolicy;
use crate::span::Span;

pub use kubestore_core::slo_check::flags;

const EXIT_CODES: &str = "\
Exit codes:
  0  every SLO met
  1  at least one SLO breached (even if others could not be evaluated)
  2  usage error, or SLO definitions that cannot be read or are invalid (or none found)
  3  Prometheus could not be asked: unreachable, time-out, auth refused, bad or partial
     response, a query error, inconsistent data (bad > total)
  4  no breach, but at least one SLO has no_data or low_traffic (0 with --allow-no-data)

Environment: PROMETHEUS_URL (for --prometheus), PROMETHEUS_PASSWORD (basic auth),
NO_COLOR (no colour in the table), RUST_LOG (log filter, default `warn`).";

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One aligned line per SLO, for people.
    Table,
    /// One versioned JSON document.
    Json,
    /// JUnit XML, one testcase per SLO.
    Junit,
    /// A Markdown table for a pull-request comment.
    Markdown,
    /// One self-contained HTML page with a chart per SLO.
    Html,
}

/// Checks that services meet their SLOs, from OpenSLO, Sloth or Pyrra definitions (or a
/// KubeStore environment) and any Prometheus-compatible query API.
#[derive(Debug, Parser)]
#[command(name = "slo-check", version, after_long_help = EXIT_CODES, after_help = EXIT_CODES)]
#[command(group(ArgGroup::new("source").required(true).args([flags::SLOS, flags::ENV])))]
pub struct Cli {
    /// SLO definitions (OpenSLO v1, Sloth, Pyrra, mixed freely): a file, or a folder read
    /// recursively (.yaml and .yml, any case); other Kubernetes objects in it are skipped
    /// with a note.
    #[arg(long = flags::SLOS, value_name = "PATH")]
    pub slos: Option<PathBuf>,

    /// The SLOs of environment NAME, read from ENVIRONMENTS/NAME.yaml by the generator's
    /// own loader.
    #[arg(long = flags::ENV, value_name = "NAME")]
    pub env: Option<String>,

    /// The SLO period of Sloth SLOs, whose files do not state one (as `sloth generate
    /// --default-slo-period`).
    #[arg(long, value_name = "DURATION", default_value_t = crate::sloth::DEFAULT_PERIOD, requires = flags::SLOS)]
    pub default_slo_period: Span,

    /// Folder of environment files (with --env).
    #[arg(long = flags::ENVIRONMENTS, value_name = "DIR", default_value = "environments", requires = flags::ENV)]
    pub environments: PathBuf,

    /// Prometheus, or anything serving its HTTP query API (Thanos, Mimir, Cortex,
    /// VictoriaMetrics), with its path prefix if it has one [default: the URL the
    /// definitions' OpenSLO DataSources name].
    #[arg(long = flags::PROMETHEUS, env = "PROMETHEUS_URL", value_name = "URL")]
    pub prometheus: Option<String>,

    /// Extra request header, `Name: value` (repeatable), e.g. `X-Scope-OrgID: shop`.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Bearer token file, read before every evaluation (mounted tokens rotate).
    #[arg(long, value_name = "FILE", conflicts_with = "basic_auth_user")]
    pub bearer_token_file: Option<PathBuf>,

    /// Basic auth user; the password comes from PROMETHEUS_PASSWORD.
    #[arg(long, value_name = "USER")]
    pub basic_auth_user: Option<String>,

    /// PEM file of CA certificates to trust besides the system's.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// Accept any TLS certificate (unsafe: anyone on the path can answer).
    #[arg(long)]
    pub insecure_skip_verify: bool,

    /// Time-out of one query.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub query_timeout: Span,

    /// Deadline of the whole run (of each evaluation with --soak).
    #[arg(long = flags::TIMEOUT, value_name = "DURATION", default_value = "60s")]
    pub timeout: Span,

    /// Queries in flight at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// Retries of a query after a connection error, 429 or 5xx.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,

    /// Accept answers the server marks as partial (Thanos, Mimir, VictoriaMetrics).
    #[arg(long)]
    pub allow_partial: bool,

    /// Evaluation window [default: the environment's post-sync window with --env, else 10m].
    #[arg(long = flags::WINDOW, value_name = "DURATION")]
    pub window: Option<Span>,

    /// Measure from TIME (RFC 3339 or Unix seconds) to the evaluation time instead of a
    /// fixed window, e.g. the time of the sync.
    #[arg(long, value_name = "TIME", conflicts_with_all = [flags::WINDOW, flags::SOAK])]
    pub since: Option<String>,

    /// Evaluation time (RFC 3339 or Unix seconds) [default: now].
    #[arg(long, value_name = "TIME", conflicts_with = flags::SOAK)]
    pub at: Option<String>,

    /// Watch for DURATION from now, every --interval; fail at once on a fast burn.
    #[arg(long = flags::SOAK, value_name = "DURATION")]
    pub soak: Option<Span>,

    /// Time between evaluations of a soak.
    #[arg(long = flags::INTERVAL, value_name = "DURATION", default_value = "30s", requires = flags::SOAK)]
    pub interval: Span,

    /// During a soak, fail at once when an SLO burns faster than this since the start
    /// [default: the page tier's factor, 14.4].
    #[arg(long, value_name = "FACTOR", requires = flags::SOAK)]
    pub fast_burn: Option<f64>,

    /// Burn rate over the window above which an SLO is breached.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub max_burn: f64,

    /// What a spent SLO-period budget does: `warn` reports it, `fail` breaches.
    #[arg(long, value_enum, default_value_t = BudgetPolicy::Warn)]
    pub budget_policy: BudgetPolicy,

    /// Fewer requests than this over the window is low_traffic.
    #[arg(long, value_name = "N", default_value_t = 100.0)]
    pub min_events: f64,

    /// Exit 0 instead of 4 when SLOs have no_data or low_traffic (still reported).
    #[arg(long)]
    pub allow_no_data: bool,

    /// Report format.
    #[arg(long = flags::FORMAT, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the report to FILE; the terminal then gets the table.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Also write the one-line verdict to FILE (e.g. /dev/termination-log).
    #[arg(long = flags::TERMINATION_LOG, value_name = "FILE")]
    pub termination_log: Option<PathBuf>,

    /// Print every resolved query, where each was read from, and the evaluation time;
    /// ask nothing.
    #[arg(long)]
    pub explain: bool,
}

/// Reads RFC 3339 or Unix seconds.
pub fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs);
    }
    if let Ok(secs) = text.parse::<f64>()
        && secs.is_finite()
    {
        return Ok(secs.floor() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .map_err(|_| {
            format!(
                "`{text}` is not a time: expected RFC 3339 (2026-12-01T18:30:00Z) or Unix seconds"
            )
        })
}

#[cfg(test)]
mod exit_code_help {
    use kubestore_core::slo_check::exit;

    /// The help text spells the codes out for people; it must say what the constants are.
    #[test]
    fn the_help_names_every_exit_code_as_the_program_returns_it() {
        for (code, meaning) in [
            (exit::MET, "every SLO met"),
            (exit::BREACHED, "at least one SLO breached"),
            (exit::USAGE, "usage error"),
            (exit::UNREACHABLE, "Prometheus could not be asked"),
            (exit::NO_DATA, "no breach, but at least one SLO has no_data"),
        ] {
            let line = format!("  {code}  {meaning}");
            assert!(super::EXIT_CODES.contains(&line), "missing `{line}`");
        }
    }
}
