use clap::Parser;

use slo_check::cli::Cli;

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
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
