use std::io::IsTerminal;

use clap::Parser;

use slo_check::cli::Cli;

fn main() {
    let cli = Cli::parse();
    // Colour only where a person reads it: a log file or a pipe gets plain text.
    let color = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime starts");
    let code = match runtime.block_on(slo_check::run::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("slo-check: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
