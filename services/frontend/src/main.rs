//! `frontend migrate | serve`: parses the command line and runs it.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = kubestore_frontend::config::Cli::parse();
    match kubestore_frontend::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("frontend: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
