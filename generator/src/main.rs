//! The `kubestore-gen` binary: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = kubestore_gen::cli::Cli::parse();
    match kubestore_gen::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let code = error.exit_code();
            let report = anyhow::Error::new(error);
            let text = format!("{report:#}");
            if !text.is_empty() {
                eprintln!(
                    "{}",
                    text.replace('\n', "\nerror: ").replacen("", "error: ", 1)
                );
            }
            ExitCode::from(code)
        }
    }
}
