//! The `cart` binary: `cart migrate` and `cart serve`.

fn main() -> std::process::ExitCode {
    kubestore_cart::cli::main()
}
