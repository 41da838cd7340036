//! `Idempotency-Key` handling for `POST /v1/orders`.
//!
//! The first request with a key inserts a claim row; twins that arrive meanwhile
//! poll until the owner stores its answer (then replay it) or give up after
//! [`Settings::wait`] with 409 `request_in_progress`. Only a successful answer is
//! stored, in the same transaction as the order, so a failed request deletes its
//! claim and can be retried with the same key. A claim whose owner died is taken
//! over after [`Settings::lease`].

use axum::http::HeaderMap;
use chrono::TimeDelta;
use kubestore_common::AppError;
use kubestore_common::db::is_unique_violation;
use sqlx::{MySql, MySqlPool, Transaction};
use std::time::Duration;

/// The request header.
pub const HEADER: &str = "idempotency-key";

/// Pause between two looks at a claim held by another request.
const POLL: Duration = Duration::from_millis(20);

/// Timing of claims.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a twin waits for the owner before answering 409 `request_in_progress`.
    pub wait: Duration,
    /// After how long an unfinished claim counts as abandoned and may be taken over.
    pub lease: Duration,
}

/// The validated key of a request, if it has one: 1..=255 visible ASCII characters.
pub fn key_from(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = || {
        AppError::validation(
            "Idempotency-Key",
            "must be one header of 1 to 255 visible ASCII characters",
        )
    };
    if values.next().is_some() {
        return Err(invalid());
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(invalid());
    }
    // Visible ASCII is valid UTF-8.
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|_| invalid())
}

/// A claim this request holds.
#[derive(Debug, Clone)]
pub struct Owner {
    key: String,
    token: String,
}

/// Outcome of [`claim`].
#[derive(Debug)]
pub enum Claim {
    /// This request owns the key and must place the order.
    Owned(Owner),
    /// The key already has a stored answer: the first response's body.
    Replay(String),
}

fn new_token() -> String {
    format!("{:032x}", fastrand::u128(..))
}

#[derive(sqlx::FromRow)]
struct Row {
    fingerprint: String,
    owner: String,
    response: Option<String>,
    claimed_at: chrono::NaiveDateTime,
}

/// Claims `key` for a request with `fingerprint`, waiting for a concurrent owner.
pub async fn claim(
    pool: &MySqlPool,
    settings: Settings,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, AppError> {
    let deadline = tokio::time::Instant::now() + settings.wait;
    let lease = TimeDelta::from_std(settings.lease).unwrap_or(TimeDelta::seconds(30));
    loop {
        let token = new_token();
        let now = kubestore_common::time::now();
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (idem_key, fingerprint, owner, claimed_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(key)
        .bind(fingerprint)
        .bind(&token)
        .bind(now)
        .execute(pool)
        .await;
        match inserted {
            Ok(_) => {
                return Ok(Claim::Owned(Owner {
                    key: key.to_owned(),
                    token,
                }));
            }
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
        let row = sqlx::query_as::<_, Row>(
            "SELECT fingerprint, owner, response, claimed_at FROM idempotency_keys \
             WHERE idem_key = ?",
        )
        .bind(key)
        .fetch_optional(pool)
        .await?;
        if let Some(row) = row {
            if row.fingerprint != fingerprint {
                return Err(AppError::unprocessable(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request body",
                )
                .with_detail("field", "Idempotency-Key"));
            }
            if let Some(response) = row.response {
                return Ok(Claim::Replay(response));
            }
            if now - row.claimed_at > lease {
                let taken = sqlx::query(
                    "UPDATE idempotency_keys SET owner = ?, claimed_at = ? \
                     WHERE idem_key = ? AND owner = ? AND response IS NULL",
                )
                .bind(&token)
                .bind(now)
                .bind(key)
                .bind(&row.owner)
                .execute(pool)
                .await?;
                if taken.rows_affected() == 1 {
                    tracing::warn!(key, "took over an abandoned idempotency claim");
                    return Ok(Claim::Owned(Owner {
                        key: key.to_owned(),
                        token,
                    }));
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AppError::conflict(
                "request_in_progress",
                "a request with this Idempotency-Key is still being processed; retry later",
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Stores the answer under the claim, inside the order's transaction. `false` when
/// the claim was lost (taken over after its lease), so the order must not commit.
pub async fn store(
    tx: &mut Transaction<'static, MySql>,
    owner: &Owner,
    order_id: i64,
    response: &str,
) -> Result<bool, AppError> {
    let updated = sqlx::query(
        "UPDATE idempotency_keys SET order_id = ?, response = ? \
         WHERE idem_key = ? AND owner = ? AND response IS NULL",
    )
    .bind(order_id)
    .bind(response)
    .bind(&owner.key)
    .bind(&owner.token)
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Drops the claim of a request that failed, so the key can be used again. Failure
/// to do so only delays a retry until the lease expires.
pub async fn abandon(pool: &MySqlPool, owner: &Owner) {
    let result = sqlx::query(
        "DELETE FROM idempotency_keys WHERE idem_key = ? AND owner = ? AND response IS NULL",
    )
    .bind(&owner.key)
    .bind(&owner.token)
    .execute(pool)
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not drop an idempotency claim; it expires with its lease");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn keys_are_visible_ascii() {
        let mut h = HeaderMap::new();
        assert_eq!(key_from(&h).unwrap(), None);
        h.insert(HEADER, HeaderValue::from_static("abc-123_~!"));
        assert_eq!(key_from(&h).unwrap().as_deref(), Some("abc-123_~!"));
        for bad in ["", "with space", &"k".repeat(256)] {
            h.insert(HEADER, HeaderValue::from_str(bad).unwrap());
            assert!(key_from(&h).is_err(), "{bad:?}");
        }
        h.insert(HEADER, HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        assert!(key_from(&h).is_err());
        h.insert(HEADER, HeaderValue::from_str(&"k".repeat(255)).unwrap());
        assert!(key_from(&h).is_ok());
    }
}
