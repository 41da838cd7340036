//! The `frontend` binary: `frontend migrate` and `frontend serve`.

fn main() -> std::process::ExitCode {
    kubestore_frontend::cli::main()
}
