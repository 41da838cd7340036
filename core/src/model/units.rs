//! Values with units as users write them: Kubernetes quantities, durations and
//! percentages. Each parses strictly and keeps the user's spelling for the output.

use std::fmt;

use serde::{Serialize, Serializer};

/// Units serialize as they print, so `explain` shows `250m`, `2s`, `99.9%`.
macro_rules! serialize_as_display {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_display!(Quantity, Duration, Percent);

/// A Kubernetes resource quantity (`250m`, `0.5`, `256Mi`, `1G`), non-negative.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    text: String,
    /// The value in milli-units (millicores for CPU, millibytes for memory), so that
    /// comparisons are exact for every suffix.
    milli: u128,
}

impl Quantity {
    /// Parses a quantity; the message says what form is expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{text}` is not a quantity: expected a non-negative number with an optional \
                 suffix (m, k, M, G, T, Ki, Mi, Gi, Ti), e.g. `250m`, `0.5`, `256Mi`"
            )
        };
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, suffix) = text.split_at(split);
        let factor: u128 = match suffix {
            "" => 1000,
            "m" => 1,
            "k" => 1000 * 1000,
            "M" => 1000 * 1_000_000,
            "G" => 1000 * 1_000_000_000,
            "T" => 1000 * 1_000_000_000_000,
            "Ki" => 1000 << 10,
            "Mi" => 1000 << 20,
            "Gi" => 1000 << 30,
            "Ti" => 1000 << 40,
            _ => return Err(bad()),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || fraction.len() > 9
            || whole.len() > 15
        {
            return Err(bad());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let scale = 10u128.pow(fraction.len() as u32);
        let fraction: u128 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| bad())?
        };
        let scaled = whole
            .checked_mul(scale)
            .and_then(|v| v.checked_add(fraction))
            .and_then(|v| v.checked_mul(factor))
            .ok_or_else(|| format!("`{text}` is too large"))?;
        if scaled % scale != 0 {
            return Err(format!("`{text}` is finer than Kubernetes can express"));
        }
        Ok(Self {
            text: text.to_owned(),
            milli: scaled / scale,
        })
    }

    /// The quantity as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Value in milli-units.
    pub fn milli(&self) -> u128 {
        self.milli
    }

    /// True for a zero quantity.
    pub fn is_zero(&self) -> bool {
        self.milli == 0
    }

    /// This quantity times `factor`, written in milli-units (for CPU) when it is not whole.
    pub fn times(&self, factor: u128) -> Self {
        let milli = self.milli * factor;
        let text = if milli % 1000 == 0 {
            (milli / 1000).to_string()
        } else {
            format!("{milli}m")
        };
        Self { text, milli }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A duration such as `300ms`, `30s`, `5m`, `1h30m` or `7d`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration {
    millis: u64,
}

impl Duration {
    /// Parses a duration made of `<integer><unit>` parts, units ms, s, m, h, d, w.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{text}` is not a duration: expected parts like `300ms`, `30s`, `5m`, `1h`, \
                 `7d` (units ms, s, m, h, d, w)"
            )
        };
        if text.is_empty() {
            return Err(bad());
        }
        let mut millis: u64 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            if digits == 0 {
                return Err(bad());
            }
            let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit: u64 = match &rest[..unit_len] {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "w" => 604_800_000,
                _ => return Err(bad()),
            };
            rest = &rest[unit_len..];
            millis = value
                .checked_mul(unit)
                .and_then(|v| v.checked_add(millis))
                .ok_or_else(bad)?;
        }
        Ok(Self { millis })
    }

    /// A duration of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    /// Length in milliseconds.
    pub fn millis(self) -> u64 {
        self.millis
    }

    /// Whole seconds, rounded up (Kubernetes fields count seconds).
    pub fn seconds_ceil(self) -> u64 {
        self.millis.div_ceil(1000)
    }
}

impl fmt::Display for Duration {
    /// The shortest exact spelling Istio, Envoy and Prometheus all accept: `500ms`, `2s`,
    /// `5m`, `1h`, `30d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.millis;
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
        ] {
            if ms >= size && ms % size == 0 {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

/// A percentage between 0 and 100 with up to 6 decimals, kept exact (`99.95%`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Percent {
    /// Millionths of a percent.
    micro: u64,
}

impl Percent {
    /// Parses `50%`, `99.9%` or a bare `50`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a percentage: expected e.g. `50%` or `99.9%`");
        let number = text.strip_suffix('%').unwrap_or(text);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || fraction.len() > 6
            || whole.len() > 3
        {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let mut padded = fraction.to_owned();
        while padded.len() < 6 {
            padded.push('0');
        }
        let micro = whole * 1_000_000 + padded.parse::<u64>().map_err(|_| bad())?;
        if micro > 100_000_000 {
            return Err(format!("`{text}` is above 100%"));
        }
        Ok(Self { micro })
    }

    /// A whole percentage.
    pub const fn whole(value: u64) -> Self {
        Self {
            micro: value * 1_000_000,
        }
    }

    /// True for a whole percentage such as `50%`.
    pub fn is_whole(self) -> bool {
        self.micro % 1_000_000 == 0
    }

    /// Millionths of a percent.
    pub fn micro(self) -> u64 {
        self.micro
    }

    /// The percentage as a fraction of one, e.g. 0.999 for 99.9%.
    pub fn ratio(self) -> f64 {
        self.micro as f64 / 100_000_000.0
    }

    /// The whole part, for fields that only take integers.
    pub fn rounded(self) -> u32 {
        ((self.micro + 500_000) / 1_000_000) as u32
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.micro / 1_000_000;
        let fraction = self.micro % 1_000_000;
        if fraction == 0 {
            write!(f, "{whole}%")
        } else {
            let digits = format!("{fraction:06}");
            write!(f, "{whole}.{}%", digits.trim_end_matches('0'))
        }
    }
}

/// A count or a percentage, as in `maxSurge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountOrPercent {
    /// An absolute number of pods.
    Count(u32),
    /// A share of the desired pods.
    Percent(u32),
}

impl CountOrPercent {
    /// Parses `1` or `25%`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(number) = text.strip_suffix('%') {
            match number.parse::<u32>() {
                Ok(p) if p <= 100 => Ok(Self::Percent(p)),
                _ => Err(format!(
                    "`{text}` is not a whole percentage from 0% to 100%"
                )),
            }
        } else {
            text.parse::<u32>()
                .map(Self::Count)
                .map_err(|_| format!("`{text}` is neither a count nor a percentage such as `25%`"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_exactly() {
        assert_eq!(Quantity::parse("250m").unwrap().milli(), 250);
        assert_eq!(Quantity::parse("0.5").unwrap().milli(), 500);
        assert_eq!(Quantity::parse("2").unwrap().milli(), 2000);
        assert_eq!(
            Quantity::parse("256Mi").unwrap().milli(),
            256 * 1024 * 1024 * 1000
        );
        assert_eq!(
            Quantity::parse("1.5Gi").unwrap().milli(),
            3 * 512 * 1024 * 1024 * 1000
        );
        for bad in [
            "12 cores",
            "-1",
            "",
            "1.2.3",
            "5x",
            "m",
            ".",
            "1e3",
            "999999999999999.999999999Ti",
        ] {
            assert!(Quantity::parse(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(Quantity::parse("250m").unwrap().times(4).as_str(), "1");
        assert_eq!(Quantity::parse("300m").unwrap().times(2).as_str(), "600m");
    }

    #[test]
    fn durations_parse_and_print_canonically() {
        assert_eq!(Duration::parse("300ms").unwrap().millis(), 300);
        assert_eq!(Duration::parse("1h30m").unwrap().millis(), 5_400_000);
        assert_eq!(Duration::parse("30d").unwrap().to_string(), "30d");
        assert_eq!(Duration::parse("90s").unwrap().to_string(), "90s");
        assert_eq!(Duration::parse("120s").unwrap().to_string(), "2m");
        for bad in ["", "5", "s", "5 s", "-5s", "5sec", "1.5s"] {
            assert!(Duration::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn percentages_are_exact() {
        assert_eq!(Percent::parse("99.9%").unwrap().micro(), 99_900_000);
        assert_eq!(Percent::parse("50").unwrap().to_string(), "50%");
        assert_eq!(Percent::parse("99.95%").unwrap().to_string(), "99.95%");
        for bad in ["101%", "abc", "-1%", "%", "99.9999999%", "50%%"] {
            assert!(Percent::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
