//! The `orders` binary itself: `serve` reads `IDEMPOTENCY_KEY_TTL` as the cart
//! and users do.

use kubestore_testkit::binary;
use std::process::Command;

fn orders() -> Command {
    binary::command(
        env!("CARGO_BIN_EXE_orders"),
        &["LISTEN_ADDR", "DATABASE_URL", "IDEMPOTENCY_KEY_TTL"],
    )
}

#[test]
fn serve_reads_the_key_ttl_and_refuses_a_malformed_one() {
    binary::assert_reads_key_ttl(orders);
}

#[test]
fn serve_reads_what_the_catalogue_says_it_needs() {
    kubestore_testkit::catalogue::assert_matches_catalogue::<kubestore_orders::cli::Orders>();
}
