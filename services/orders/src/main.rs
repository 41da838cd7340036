//! The `orders` binary: `orders migrate` and `orders serve`.

fn main() -> std::process::ExitCode {
    kubestore_orders::cli::main()
}
