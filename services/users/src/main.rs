//! The `users` binary: `users migrate` and `users serve`.

fn main() -> std::process::ExitCode {
    kubestore_users::cli::main()
}
