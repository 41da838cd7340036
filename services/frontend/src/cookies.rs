//! The two cookies of the shop: the cart id and the customer number remembered
//! after a checkout. Both are HttpOnly (no script needs them) and SameSite=Lax,
//! so another site cannot post forms that act on the shopper's cart.

use axum::http::{HeaderMap, HeaderValue, header};

/// Cookie holding the cart id.
pub const CART_COOKIE: &str = "cart_id";
/// Cookie holding the customer number, to prefill the next checkout.
pub const CUSTOMER_COOKIE: &str = "customer_id";
/// Cookie lifetime: as long as the cart's default idle time.
const MAX_AGE_SECONDS: u64 = 7 * 24 * 3600;

/// The value of cookie `name`, if the request sent it.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// The cart id from the cookie, if it is one the cart service would accept;
/// a tampered cookie is ignored rather than forwarded.
pub fn cart_id(headers: &HeaderMap) -> Option<&str> {
    get(headers, CART_COOKIE).filter(|id| is_cart_id(id))
}

/// Whether `id` is 1..=64 characters of `[A-Za-z0-9_-]`.
pub fn is_cart_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A new cart id: 128 random bits from the OS, hex-encoded. Whoever knows a
/// cart id can change that cart, so it must not be guessable.
pub fn new_cart_id() -> String {
    unguessable_id()
}

/// 128 random bits in hex: cart ids, and the key of a checkout form, which only
/// the shopper's own form should be able to replay.
pub fn unguessable_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness is a broken host; fall back rather than fail the
        // shopper, mixing in the time so ids still differ.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `Set-Cookie` value for `name=value`.
pub fn set(name: &str, value: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{name}={value}; Path=/; Max-Age={MAX_AGE_SECONDS}; HttpOnly; SameSite=Lax{secure}"
    );
    // Values are cart ids and numbers we made ourselves, always valid.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; cart_id=abc_D-9; other=x".parse().unwrap(),
        );
        headers.append(header::COOKIE, "customer_id=42".parse().unwrap());
        assert_eq!(cart_id(&headers), Some("abc_D-9"));
        assert_eq!(get(&headers, CUSTOMER_COOKIE), Some("42"));
        assert_eq!(get(&headers, "missing"), None);

        let mut bad = HeaderMap::new();
        bad.insert(header::COOKIE, "cart_id=../etc".parse().unwrap());
        assert_eq!(cart_id(&bad), None);
    }

    #[test]
    fn new_ids_are_valid_and_differ() {
        let a = new_cart_id();
        assert!(is_cart_id(&a));
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_cart_id());
    }

    #[test]
    fn cookies_are_http_only_and_lax() {
        let v = set(CART_COOKIE, "abc", true);
        let v = v.to_str().unwrap();
        assert!(v.contains("HttpOnly") && v.contains("SameSite=Lax") && v.contains("Secure"));
        assert!(
            !set(CART_COOKIE, "abc", false)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }
}
