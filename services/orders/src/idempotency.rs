//! `Idempotency-Key` handling for `POST /v1/orders`: the shared MySQL claim
//! ([`kubestore_common::idempotency::mysql`]) on the orders database's
//! `idempotency_keys` table, whose id column is `order_id`.

use kubestore_common::AppError;
pub use kubestore_common::idempotency::key_from;
pub use kubestore_common::idempotency::mysql::{Claim, Owner, Settings, claim};

/// Stores the answer and the order's id under the claim, in the owner's
/// transaction, which also holds the order; the caller commits.
pub async fn store(owner: &mut Owner, order_id: i64, response: &str) -> Result<(), AppError> {
    kubestore_common::idempotency::mysql::store(owner, "order_id", order_id, response).await
}
