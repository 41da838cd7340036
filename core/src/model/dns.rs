//! The DNS-1123 names Kubernetes requires (RFC 1123): labels for namespaces and most
//! object names, subdomains for host names, Secrets, StorageClasses and secret stores.
//! Every check of such a name in the model goes through here.

/// Longest DNS-1123 label, the limit for namespaces and object names.
pub const LABEL_MAX: usize = 63;

/// Longest DNS-1123 subdomain.
pub const SUBDOMAIN_MAX: usize = 253;

/// What a label may be, for messages.
pub const LABEL_RULE: &str = "use at most 63 lower-case letters, digits and '-', starting and \
                              ending with a letter or digit (RFC 1123)";

/// What a subdomain may be, for messages.
pub const SUBDOMAIN_RULE: &str = "use lower-case letters, digits, '-' and '.' (RFC 1123)";

/// A DNS-1123 label: a namespace, an environment or experiment name.
pub fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= LABEL_MAX
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain: dot-separated labels, a host name or the name of a Secret,
/// StorageClass or secret store.
pub fn is_subdomain(s: &str) -> bool {
    s.len() <= SUBDOMAIN_MAX && s.split('.').all(is_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains_follow_rfc_1123() {
        assert!(is_label("prod-eu1"));
        for bad in ["", "-a", "a-", "Prod", "a.b", &"a".repeat(LABEL_MAX + 1)] {
            assert!(!is_label(bad), "{bad}");
        }
        assert!(is_subdomain("shop.example.com"));
        assert!(is_label(&"a".repeat(LABEL_MAX)));
        for bad in [
            "",
            "a..b",
            ".a",
            "a_b.c",
            &format!("{}.a", "a".repeat(SUBDOMAIN_MAX)),
        ] {
            assert!(!is_subdomain(bad), "{bad}");
        }
    }
}
