//! The `Idempotency-Key` request header as every service reads it, and the two
//! answers a key can get before any work is done, so that users, orders and
//! cart refuse a bad or reused key in the same words. With the `mysql` feature,
//! [`mysql`] stores keys in a service's own database.

#[cfg(feature = "mysql")]
pub mod mysql;

use axum::http::HeaderMap;

use crate::AppError;

/// The request header (lower case, as `http` names it).
pub const HEADER: &str = crate::catalog::IDEMPOTENCY_KEY_HEADER;

/// Longest key the contract allows.
pub const MAX_LEN: usize = 255;

/// The validated key of a request, if it has one: exactly one header of
/// 1..=255 visible ASCII characters, else 422 naming `Idempotency-Key`.
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
    match value.to_str() {
        Ok(key) if is_valid(key) => Ok(Some(key.to_owned())),
        _ => Err(invalid()),
    }
}

/// Whether `key` is 1..=255 visible ASCII characters, as the contract requires
/// (for callers that make keys, such as the frontend's checkout form).
pub fn is_valid(key: &str) -> bool {
    (1..=MAX_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// 422 `idempotency_key_reused`: the key belongs to a different request; `what`
/// says which part differs ("request body", "cart or cart contents").
pub fn reused(what: &str) -> AppError {
    AppError::unprocessable(
        "idempotency_key_reused",
        format!("this Idempotency-Key was used with a different {what}"),
    )
    .with_detail("field", "Idempotency-Key")
}

/// 409 `request_in_progress`: the first request with the key is still running.
pub fn in_progress() -> AppError {
    AppError::conflict(
        "request_in_progress",
        "a request with this Idempotency-Key is still being processed; retry later",
    )
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
        h.append(HEADER, HeaderValue::from_static("second"));
        assert!(key_from(&h).is_err());
    }
}
