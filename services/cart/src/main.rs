//! `cart migrate | serve`: parses the command line and runs it.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = kubestore_cart::config::Cli::parse();
    match kubestore_cart::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cart: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
