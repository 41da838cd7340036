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
fn serve_help_names_the_key_ttl_and_its_default() {
    let output = orders().args(["serve", "--help"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("IDEMPOTENCY_KEY_TTL"), "{help}");
    assert!(help.contains("[default: 24h]"), "{help}");
}

#[test]
fn a_malformed_key_ttl_stops_it_at_start_up() {
    for value in ["0", "1.5h", "366d"] {
        let output = orders()
            .arg("serve")
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("IDEMPOTENCY_KEY_TTL", value)
            .output()
            .unwrap();
        binary::assert_rejected(&output, "IDEMPOTENCY_KEY_TTL", value);
    }
}
