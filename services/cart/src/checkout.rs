//! The checkout idempotency key.
//!
//! The key is a digest of the cart id, its generation and its lines. A checkout
//! retried after a timeout sees the same cart and sends the same key, so orders
//! replays the first order instead of making a second one; once a checkout has
//! emptied the cart the generation changes, so buying the same contents again
//! is a new order.

use sha2::{Digest, Sha256};

use crate::store::{Cart, hex};

/// The `Idempotency-Key` for checking out `cart` (69 visible ASCII characters,
/// well inside the contract's 1..=255).
pub fn idempotency_key(cart_id: &str, cart: &Cart) -> String {
    let mut hasher = Sha256::new();
    // Newline-separated: none of the parts can contain one (cart ids are
    // [A-Za-z0-9_-], generations are hex, lines are numbers), so the encoding
    // is unambiguous.
    hasher.update(b"kubestore-cart-checkout-v1\n");
    hasher.update(cart_id.as_bytes());
    hasher.update(b"\n");
    hasher.update(cart.generation.as_bytes());
    for line in &cart.lines {
        hasher.update(format!("\n{}x{}", line.product_id, line.quantity).as_bytes());
    }
    format!("cart-{}", hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Line;

    fn cart(generation: &str, lines: &[(u64, u32)]) -> Cart {
        Cart {
            generation: generation.into(),
            lines: lines
                .iter()
                .map(|&(product_id, quantity)| Line {
                    product_id,
                    quantity,
                })
                .collect(),
        }
    }

    #[test]
    fn same_contents_and_generation_give_the_same_key() {
        let a = idempotency_key("c1", &cart("g1", &[(1, 2), (3, 4)]));
        assert_eq!(a, idempotency_key("c1", &cart("g1", &[(1, 2), (3, 4)])));
        assert_eq!(a.len(), 69);
        assert!(a.bytes().all(|b| b.is_ascii_graphic()));
    }

    #[test]
    fn anything_else_changes_the_key() {
        let a = idempotency_key("c1", &cart("g1", &[(1, 2), (3, 4)]));
        for other in [
            idempotency_key("c2", &cart("g1", &[(1, 2), (3, 4)])),
            idempotency_key("c1", &cart("g2", &[(1, 2), (3, 4)])),
            idempotency_key("c1", &cart("g1", &[(1, 2), (3, 5)])),
            idempotency_key("c1", &cart("g1", &[(1, 2)])),
            idempotency_key("c1", &cart("g1", &[(12, 2), (3, 4)])),
        ] {
            assert_ne!(a, other);
        }
    }
}
