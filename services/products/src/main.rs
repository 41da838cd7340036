//! The `products` binary: `products migrate` and `products serve`.

fn main() -> std::process::ExitCode {
    kubestore_products::cli::main()
}
