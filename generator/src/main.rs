//! The `kubestore-gen` binary: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = kubestore_gen::cli::Cli::parse();
    match kubestore_gen::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let report = anyhow::Error::new(error);
            let code = report
                .downcast_ref::<kubestore_gen::Error>()
                .map_or(2, |e| e.exit_code());
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
