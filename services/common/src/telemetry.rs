//! Structured logging: one JSON object per line on stdout, filtered by `RUST_LOG`.

/// Installs the global subscriber. Fails on a filter that does not parse, so a
/// malformed `RUST_LOG` stops the process at start-up.
pub fn init(filter: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| format!("RUST_LOG `{filter}` is not a valid filter: {e}"))?;
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(std::io::stdout)
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))
}
