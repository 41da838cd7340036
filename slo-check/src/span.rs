//! Durations as Prometheus spells them (`90s`, `10m`, `1h30m`, `7d`, `4w`, `1y`), kept in
//! whole seconds: evaluation windows and SLO periods never need less.

use std::fmt;
use std::str::FromStr;

/// A non-negative whole number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(u64);

const UNITS: [(char, u64); 6] = [
    ('y', 365 * 86_400),
    ('w', 7 * 86_400),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

impl Span {
    /// `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Whole seconds.
    pub const fn secs(self) -> u64 {
        self.0
    }

    /// As a [`std::time::Duration`].
    pub fn std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }
}

/// A time limit as the user wrote it: `3s`, `1m30s`, or `2.5s` below whole seconds.
pub fn words(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 {
        Span::from_secs(d.as_secs()).to_string()
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

impl FromStr for Span {
    type Err = String;

    /// Units in decreasing order, each at most once, e.g. `1h30m`; `0` alone is refused
    /// because a window of nothing measures nothing.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("`{text}` is not a duration ({why}): expected e.g. `30s`, `10m`, `1h30m`, `7d`")
        };
        if text.is_empty() {
            return Err(bad("empty"));
        }
        let mut total: u64 = 0;
        let mut rest = text;
        let mut last_unit = usize::MAX;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad("a number must come before each unit"));
            }
            let number: u64 = rest[..digits]
                .parse()
                .map_err(|_| bad("number too large"))?;
            let unit = rest[digits..]
                .chars()
                .next()
                .ok_or_else(|| bad("missing unit"))?;
            let Some(index) = UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(bad("units are y, w, d, h, m and s"));
            };
            if last_unit != usize::MAX && index <= last_unit {
                return Err(bad("units must go from largest to smallest, each once"));
            }
            last_unit = index;
            total = number
                .checked_mul(UNITS[index].1)
                .and_then(|s| total.checked_add(s))
                .ok_or_else(|| bad("too large"))?;
            rest = &rest[digits + unit.len_utf8()..];
        }
        if total == 0 {
            return Err(bad("it must be longer than 0s"));
        }
        Ok(Self(total))
    }
}

impl fmt::Display for Span {
    /// A spelling Prometheus reads back to the same value (`1h30m`, `7d`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        // Days at most: `28d` is how SLO periods are written, not `4w`.
        for (unit, size) in UNITS.into_iter().skip(2) {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_prints_prometheus_durations() {
        for (text, secs, shown) in [
            ("10m", 600, "10m"),
            ("1h30m", 5400, "1h30m"),
            ("30d", 2_592_000, "30d"),
            ("4w", 2_419_200, "28d"),
            ("1y", 31_536_000, "365d"),
            ("90s", 90, "1m30s"),
        ] {
            let span: Span = text.parse().unwrap();
            assert_eq!(span.secs(), secs, "{text}");
            assert_eq!(span.to_string(), shown, "{text}");
        }
    }

    #[test]
    fn refuses_what_prometheus_would_refuse() {
        for text in ["", "10", "m", "0s", "10x", "30m1h", "1h1h", "-5m", "1.5h"] {
            assert!(text.parse::<Span>().is_err(), "{text}");
        }
    }
}
