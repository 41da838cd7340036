//! The checkout flow and its two idempotency keys.
//!
//! The key sent to orders is a digest of the cart id, its generation and its
//! lines. A checkout retried after a timeout sees the same cart and sends the
//! same key, so orders replays the first order instead of making a second one;
//! once a checkout has emptied the cart the generation changes, so buying the
//! same contents again is a new order.
//!
//! That alone cannot answer a repeat that comes after the cart was emptied: the
//! repeat finds an empty cart. So a caller may send its own `Idempotency-Key`
//! (the mesh retries checkout only with one): the first request claims the key
//! in Redis, and the step that empties the cart also stores the 201 under it.
//! A repeat for the same cart and user then gets that 201 again, as long as
//! the cart is empty or holds exactly what was ordered; a cart holding
//! anything else means the key is being reused for another purchase (422).
//! A repeat that arrives while the first is running waits for it; a failed
//! checkout frees its key, so the retry runs again.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kubestore_common::AppError;
use kubestore_common::idempotency::{in_progress, reused};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::store::{Cart, KeyClaim, KeyRecord, hex, lines_text, request_text};
use crate::upstream::OrderOutcome;

/// Pause between two looks at a key whose first checkout is still running.
const POLL: Duration = Duration::from_millis(20);

/// Checks out `cart_id` for `user_id`, with the caller's `Idempotency-Key` if it
/// sent one. Run it detached from the connection (see the route): once an
/// order may exist, the step that empties the cart and stores the answer must
/// happen even if the caller has gone.
pub async fn checkout(
    state: &AppState,
    cart_id: &str,
    user_id: i64,
    caller_key: Option<&str>,
) -> Result<Response, AppError> {
    let Some(key) = caller_key else {
        return place(state, cart_id, user_id, None).await;
    };
    let request = request_text(cart_id, user_id);
    let token = match claim(state, key, &request).await? {
        Claimed::Owner(token) => token,
        Claimed::Answered { lines, response } => {
            let cart = state.store.get(cart_id).await?;
            return if cart.lines.is_empty() || lines_text(&cart.lines) == lines {
                Ok(created(response))
            } else {
                Err(reused("cart contents"))
            };
        }
    };
    let placed = place(state, cart_id, user_id, Some((key, &request))).await;
    if placed.is_err() {
        // Only successes are kept: free the key so that a retry runs again. If
        // Redis fails here too, the claim lapses after its lease.
        if let Err(e) = state.store.release_key(key, &token).await {
            tracing::warn!(%cart_id, error = %e, "could not free an idempotency key");
        }
    }
    placed
}

enum Claimed {
    Owner(String),
    Answered { lines: String, response: String },
}

/// Claims `key`, waiting up to the configured time for a first request that is
/// still running.
async fn claim(state: &AppState, key: &str, request: &str) -> Result<Claimed, AppError> {
    let deadline = tokio::time::Instant::now() + state.store.config().keys.wait;
    loop {
        match state.store.claim_key(key, request).await? {
            KeyClaim::Owned(token) => return Ok(Claimed::Owner(token)),
            KeyClaim::Done { lines, response } => {
                return Ok(Claimed::Answered { lines, response });
            }
            KeyClaim::Reused => return Err(reused("cart or user")),
            KeyClaim::Pending => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(in_progress());
                }
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// Makes the order for the cart as it is now, then empties the cart (and
/// stores the answer under `record`'s key and request).
async fn place(
    state: &AppState,
    cart_id: &str,
    user_id: i64,
    record: Option<(&str, &str)>,
) -> Result<Response, AppError> {
    let cart = state.store.get(cart_id).await?;
    if cart.lines.is_empty() {
        return Err(AppError::unprocessable("empty_cart", "the cart is empty"));
    }
    let order_key = idempotency_key(cart_id, &cart);
    let order = match state
        .upstream
        .create_order(user_id, &cart.lines, &order_key)
        .await?
    {
        OrderOutcome::Created(order) => order,
        OrderOutcome::Rejected(err) => return Err(err),
    };
    let response = serde_json::to_string(&order).map_err(AppError::internal)?;
    // The order exists; only now may the cart be emptied. If Redis fails here
    // the client gets a 503 and retries: the same contents and generation give
    // the same order key, so orders replays this order and the retry empties
    // the cart.
    let record = record.map(|(key, request)| KeyRecord {
        key,
        request,
        response: &response,
    });
    if !state.store.finish_checkout(cart_id, &cart, record).await? {
        tracing::info!(%cart_id, "cart was already emptied by a concurrent checkout");
    }
    Ok(created(response))
}

/// The 201 of a checkout: the order as orders answered it, byte for byte the
/// same for the first answer and every replay.
fn created(mut body: String) -> Response {
    if !body.ends_with('\n') {
        body.push('\n');
    }
    (
        StatusCode::CREATED,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

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
