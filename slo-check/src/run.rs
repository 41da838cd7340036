//! A run: read the definitions, evaluate once (or soak), write the report, return the
//! exit code.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use kubestore_core::slo_check::exit;
use reqwest::header::{HeaderName, HeaderValue};

use crate::cli::{Cli, Format, parse_time};
use crate::definition::{Budgeting, SloDefinition};
use crate::evaluate::{self, Outcome, Params, Plan, Verdict, short};
use crate::prometheus::{self, Client};
use crate::report::Report;
use crate::span::Span;
use crate::{environment, load};

/// Why a run stopped before it had a verdict.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad flags or unusable files: exit 2.
    #[error("{0}")]
    Usage(String),
    /// Invalid SLO definitions: exit 2.
    #[error("invalid SLO definitions:\n{0}")]
    Spec(#[from] crate::error::SpecErrors),
    /// The report could not be written.
    #[error("{0}")]
    Output(String),
}

impl RunError {
    /// The contract's exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Usage(_) | RunError::Spec(_) | RunError::Output(_) => exit::USAGE,
        }
    }
}

/// The window without `--window` when definitions do not say.
const DEFAULT_WINDOW: Span = Span::from_secs(600);

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Loads the definitions the flags name: never an empty list.
fn definitions(cli: &Cli) -> Result<(Vec<SloDefinition>, Option<Span>, String), RunError> {
    let (defs, window, from) = match (&cli.slos, &cli.env) {
        (Some(path), _) => {
            let loaded = load::load(path, cli.default_slo_period)?;
            for note in &loaded.notes {
                eprintln!("slo-check: note: {note}");
            }
            (loaded.slos, None, path.display().to_string())
        }
        (None, Some(env)) => {
            let loaded = environment::load(&cli.environments, env)?;
            (loaded.slos, Some(loaded.window), loaded.file)
        }
        (None, None) => return Err(RunError::Usage("give --slos PATH or --env NAME".into())),
    };
    if defs.is_empty() {
        return Err(RunError::Usage(format!(
            "no SLO found in {from}: nothing to check is not a pass"
        )));
    }
    Ok((defs, window, from))
}

fn headers(cli: &Cli) -> Result<Vec<(HeaderName, HeaderValue)>, RunError> {
    cli.headers
        .iter()
        .map(|h| {
            let bad = || {
                RunError::Usage(format!(
                    "--header `{}`: expected `Name: value`",
                    h.split(':').next().unwrap_or_default()
                ))
            };
            let (name, value) = h.split_once(':').ok_or_else(bad)?;
            let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
            let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
            Ok((name, value))
        })
        .collect()
}

/// The server to ask: `--prometheus`, else the one URL the definitions' data sources name.
fn server(cli: &Cli, defs: &[SloDefinition]) -> Result<String, RunError> {
    if let Some(url) = &cli.prometheus {
        return Ok(url.clone());
    }
    let mut urls: Vec<&str> = defs
        .iter()
        .filter_map(|d| d.prometheus_url.as_deref())
        .collect();
    urls.sort_unstable();
    urls.dedup();
    match urls.as_slice() {
        [url] => Ok((*url).to_owned()),
        [] => Err(RunError::Usage(
            "--prometheus URL (or PROMETHEUS_URL) is required: no DataSource names a URL".into(),
        )),
        several => Err(RunError::Usage(format!(
            "--prometheus URL is required: the DataSources name several servers ({})",
            several.join(", ")
        ))),
    }
}

fn client(cli: &Cli, url: String, deadline: Instant) -> Result<Client, RunError> {
    let basic_auth = match &cli.basic_auth_user {
        Some(user) => {
            let password = std::env::var("PROMETHEUS_PASSWORD").map_err(|_| {
                RunError::Usage(
                    "--basic-auth-user needs the password in PROMETHEUS_PASSWORD".into(),
                )
            })?;
            Some((user.clone(), password))
        }
        None => None,
    };
    if cli.insecure_skip_verify {
        eprintln!(
            "slo-check: WARNING: --insecure-skip-verify: the server's TLS certificate is NOT checked; \
             anyone on the network path can answer for {url}"
        );
        tracing::warn!("TLS certificate verification is off (--insecure-skip-verify)");
    }
    let config = prometheus::Config {
        url,
        headers: headers(cli)?,
        bearer_token_file: cli.bearer_token_file.clone(),
        basic_auth,
        ca_file: cli.ca_file.clone(),
        insecure_skip_verify: cli.insecure_skip_verify,
        query_timeout: cli.query_timeout.std(),
        run_timeout: cli.timeout.std(),
        retries: cli.retries,
        concurrency: usize::from(cli.concurrency),
        allow_partial: cli.allow_partial,
    };
    Client::new(config, deadline).map_err(|e| RunError::Usage(e.to_string()))
}

/// What `--explain` prints.
fn explain(defs: &[SloDefinition], at: i64, window: Span, since: Option<i64>) -> String {
    let mut out = format!(
        "evaluation time: {} ({at})\nwindow: {window}{}\n",
        Report::time(at),
        since
            .map(|s| format!(" (since {})", Report::time(s)))
            .unwrap_or_default()
    );
    for def in defs {
        let plan = Plan::new(def, window, at);
        let period = match &def.calendar {
            Some(c) => format!("calendar {c}, the current period so far: {}", plan.period),
            None => format!("period {}", def.period),
        };
        out.push_str(&format!(
            "\n{} (service {}, objective {}, {period}, from {})\n",
            def.name,
            def.service,
            short(def.objective, 10),
            def.origin
        ));
        let side = match def.numerator_kind {
            crate::definition::Numerator::Bad => "bad",
            crate::definition::Numerator::Good => "good",
            crate::definition::Numerator::ErrorRatio => "error ratio",
        };
        let numerator = match def.budgeting {
            Budgeting::Occurrences => side.to_owned(),
            Budgeting::Timeslices { target, slice } => {
                format!(
                    "share of good {slice} slices (ratio >= {})",
                    short(target, 10)
                )
            }
            Budgeting::RatioTimeslices { slice } => format!("mean ratio of {slice} slices"),
        };
        // An error ratio query is its own total: shown once per range.
        let ratio = def.numerator_kind == crate::definition::Numerator::ErrorRatio;
        for (what, range, query) in [
            (numerator.as_str(), window, Some(&plan.numerator_window)),
            ("total", window, plan.total_window.as_ref()),
            (
                numerator.as_str(),
                plan.period,
                Some(&plan.numerator_period),
            ),
            ("total", plan.period, plan.total_period.as_ref()),
        ] {
            if let Some(query) = query.filter(|_| !(ratio && what == "total")) {
                out.push_str(&format!("  {what} over {range}: {query}\n"));
            }
        }
        if let Some(q) = &plan.events_window {
            out.push_str(&format!("  requests over {window}: {q}\n"));
        }
        for (what, from) in [
            (side, &def.sources.numerator),
            ("total", &def.sources.total),
        ] {
            if from.is_empty() || (ratio && what == "total") {
                continue;
            }
            out.push_str(&format!("  {what} query from {from}\n"));
        }
        for q in Plan::diagnostics(def) {
            out.push_str(&format!("  if no data: {q}\n"));
        }
        if let Some(r) = &def.recorded_error_ratio {
            out.push_str(&format!(
                "  rules loaded: {}\n",
                crate::promql::presence(r, Span::from_secs(window.secs().max(300)))
            ));
        }
    }
    out
}

async fn evaluate_within(
    client: &Client,
    defs: &[SloDefinition],
    params: &Params,
    timeout: Span,
) -> (Vec<Outcome>, Vec<String>) {
    match tokio::time::timeout(timeout.std(), evaluate::evaluate(client, defs, params)).await {
        Ok(r) => r,
        Err(_) => {
            let outcomes = defs
                .iter()
                .map(|d| {
                    let mut o = evaluate::skeleton(d, params);
                    o.reason = format!("query error: no verdict within --timeout {timeout}");
                    o
                })
                .collect();
            (outcomes, Vec::new())
        }
    }
}

/// Runs and returns the exit code.
pub async fn run(cli: Cli) -> Result<i32, RunError> {
    let (defs, env_window, _) = definitions(&cli)?;
    let mut window = cli.window.or(env_window).unwrap_or(DEFAULT_WINDOW);
    let at = match &cli.at {
        Some(t) => parse_time(t).map_err(RunError::Usage)?,
        None => now(),
    };
    let since = match &cli.since {
        Some(t) => {
            let since = parse_time(t).map_err(RunError::Usage)?;
            if since >= at {
                return Err(RunError::Usage(format!(
                    "--since {} is not before the evaluation time {}",
                    Report::time(since),
                    Report::time(at)
                )));
            }
            window = Span::from_secs((at - since) as u64);
            Some(since)
        }
        None => None,
    };
    if cli.explain {
        if let Some(soak) = cli.soak {
            println!(
                "soak: {soak}, every {}; each evaluation measures from the start of the soak",
                cli.interval
            );
        }
        print!("{}", explain(&defs, at, window, since));
        return Ok(exit::MET);
    }
    if cli.soak.is_some_and(|s| cli.interval > s) {
        return Err(RunError::Usage(format!(
            "--interval {} is longer than --soak {}",
            cli.interval,
            cli.soak.unwrap_or(cli.interval)
        )));
    }
    let params = Params {
        at,
        window,
        max_burn: cli.max_burn,
        budget_policy: cli.budget_policy,
        min_events: cli.min_events,
        history: cli.format == Format::Html,
    };
    let report = match cli.soak {
        None => {
            let deadline = Instant::now() + cli.timeout.std();
            let client = client(&cli, server(&cli, &defs)?, deadline)?;
            let (outcomes, warnings) = evaluate_within(&client, &defs, &params, cli.timeout).await;
            Report::new(
                outcomes,
                Report {
                    evaluated_at: at,
                    prometheus: client.url().to_owned(),
                    window,
                    since,
                    slos: Vec::new(),
                    warnings,
                    allow_no_data: cli.allow_no_data,
                    note: None,
                },
            )
        }
        Some(soak) => soak_run(&cli, &defs, params, soak).await?,
    };
    write(&cli, &report)?;
    Ok(report.exit_code())
}

/// `--soak`: evaluate the traffic since the start every interval; stop at once on a
/// fast burn, else judge the whole soak at its end.
async fn soak_run(
    cli: &Cli,
    defs: &[SloDefinition],
    mut params: Params,
    soak: Span,
) -> Result<Report, RunError> {
    let start = now();
    let started = Instant::now();
    let end = started + soak.std();
    let history = params.history;
    loop {
        let next = (Instant::now() + cli.interval.std()).min(end);
        tokio::time::sleep_until(next.into()).await;
        let last = Instant::now() >= end;
        let at = if last {
            start + soak.secs() as i64
        } else {
            now()
        };
        params.at = at;
        params.window = Span::from_secs((at - start).max(1) as u64);
        params.history = last && history;
        let client = client(cli, server(cli, defs)?, Instant::now() + cli.timeout.std())?;
        let (mut outcomes, warnings) = evaluate_within(&client, defs, &params, cli.timeout).await;
        let base = Report {
            evaluated_at: at,
            prometheus: client.url().to_owned(),
            window: params.window,
            since: Some(start),
            slos: Vec::new(),
            warnings,
            allow_no_data: cli.allow_no_data,
            note: None,
        };
        if last {
            let mut report = Report::new(outcomes, base);
            report.note = Some(format!("soak of {soak} completed"));
            return Ok(report);
        }
        if outcomes.iter().all(|o| o.verdict == Verdict::Error) {
            // Nothing could be asked even after the client's retries: say so now (exit 3)
            // rather than soak blind; a Job retries a fresh soak.
            let mut report = Report::new(outcomes, base);
            report.note = Some(format!(
                "soak of {soak} stopped after {}: no SLO could be evaluated",
                params.window
            ));
            return Ok(report);
        }
        let mut fast = Vec::new();
        for (o, def) in outcomes.iter_mut().zip(defs) {
            let factor = cli.fast_burn.unwrap_or(def.fast_burn);
            if let (Some(burn), Some(requests)) = (o.burn_rate, o.requests)
                && burn > factor
                && requests >= params.min_events
                && o.verdict != Verdict::Error
            {
                o.verdict = Verdict::Breached;
                o.reason = format!(
                    "fast burn: {}x over the {} since the start of the soak, above --fast-burn {} ({})",
                    short(burn, 2),
                    params.window,
                    short(factor, 4),
                    o.reason
                );
                fast.push(o.name.clone());
            }
        }
        if !fast.is_empty() {
            let mut report = Report::new(outcomes, base);
            report.note = Some(format!(
                "soak of {soak} stopped after {} on a fast burn of {}",
                params.window,
                fast.join(", ")
            ));
            return Ok(report);
        }
        let line = Report::new(outcomes, base).verdict_line();
        tracing::info!(elapsed = %params.window, "{line}");
    }
}

/// Writes `contents` to `path` through a temporary file in the same folder, so a reader
/// never sees half a report.
fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::write(&tmp, contents).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write(cli: &Cli, report: &Report) -> Result<(), RunError> {
    let stdout = std::io::stdout();
    let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let terminal = match &cli.output {
        Some(path) => {
            write_atomic(path, &report.render(cli.format, false))
                .map_err(|e| RunError::Output(format!("--output {}: {e}", path.display())))?;
            report.render(Format::Table, color)
        }
        None => report.render(cli.format, color),
    };
    let mut out = stdout.lock();
    let _ = out.write_all(terminal.as_bytes());
    let _ = out.flush();
    let line = report.verdict_line();
    if cli.format != Format::Table || cli.output.is_some() {
        eprintln!("{line}");
    }
    if let Some(path) = &cli.termination_log {
        // Kubernetes keeps at most 4096 bytes of the termination message.
        let cut: String = line.chars().take(4000).collect();
        if let Err(e) = std::fs::write(path, cut) {
            tracing::warn!("cannot write --termination-log {}: {e}", path.display());
        }
    }
    Ok(())
}
