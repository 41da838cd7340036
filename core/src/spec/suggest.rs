//! Suggestions for a misspelt name: the one place that decides which expected name a typo
//! most likely meant, and how an "unknown ..." message offers it. The loader uses it for
//! keys, the model's checks for services, images, credentials, providers and the like.

/// The closest expected name, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(name, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `unknown <what> `<value>``, then the likely meant name, or else every expected one.
pub(crate) fn unknown(what: &str, value: &str, expected: &[&str]) -> String {
    let mut message = format!("unknown {what} `{value}`");
    if let Some(best) = did_you_mean(value, expected) {
        message.push_str(&format!(", did you mean `{best}`?"));
    } else if !expected.is_empty() {
        message.push_str(&format!(", expected one of: {}", expected.join(", ")));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_gets_the_name_it_meant_and_a_stranger_gets_the_list() {
        let names = ["frontend", "users", "orders"];
        assert_eq!(
            unknown("service", "userz", &names),
            "unknown service `userz`, did you mean `users`?"
        );
        assert_eq!(
            unknown("service", "billing", &names),
            "unknown service `billing`, expected one of: frontend, users, orders"
        );
        assert_eq!(unknown("key", "x", &[]), "unknown key `x`");
    }
}
