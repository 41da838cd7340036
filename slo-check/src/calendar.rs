//! Calendar SLO periods (OpenSLO `isRolling: false`): periods of a whole number of
//! minutes, hours, days, weeks, months, quarters or years, counted in the SLO's time zone
//! from its `calendar.startTime`. The budget of a calendar SLO is the current period's,
//! from its start to the evaluation time. Months have no fixed length, so the arithmetic
//! is civil (jiff), never seconds times 30.

use std::fmt;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// A period unit as OpenSLO writes it after the count (`1M`, `1Q`, `1w`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

/// Calendar periods of `count` units from `start`.
#[derive(Debug, Clone)]
pub struct Calendar {
    start: Zoned,
    count: i64,
    unit: Unit,
    text: String,
}

impl Calendar {
    /// Reads a duration (`1M`), a start (`2022-01-01 12:00:00`, or RFC 3339) and an IANA
    /// time zone (`UTC` when absent).
    pub fn new(duration: &str, start: &str, zone: Option<&str>) -> Result<Self, String> {
        let digits = duration.bytes().take_while(u8::is_ascii_digit).count();
        let count: i64 = duration[..digits]
            .parse()
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| {
                format!(
                    "`{duration}` is not a calendar duration: expected e.g. `1M`, `1w`, `1Q`, `28d`"
                )
            })?;
        let unit = match &duration[digits..] {
            "m" => Unit::Minute,
            "h" => Unit::Hour,
            "d" => Unit::Day,
            "w" => Unit::Week,
            "M" => Unit::Month,
            "Q" => Unit::Quarter,
            "Y" | "y" => Unit::Year,
            _ => {
                return Err(format!(
                    "`{duration}` is not a calendar duration: the unit is one of m, h, d, w, M, Q and Y"
                ));
            }
        };
        let tz = match zone.map(str::trim) {
            None | Some("" | "UTC" | "Etc/UTC" | "Z") => TimeZone::UTC,
            Some(name) => TimeZone::get(name)
                .map_err(|_| format!("`{name}` is not a time zone this machine knows (an IANA name such as `Europe/Paris`)"))?,
        };
        let start = match start.parse::<Timestamp>() {
            Ok(t) => t.to_zoned(tz),
            Err(_) => start
                .trim()
                .replacen(' ', "T", 1)
                .parse::<DateTime>()
                .ok()
                .and_then(|d| d.to_zoned(tz).ok())
                .ok_or_else(|| {
                    format!(
                        "`{start}` is not a start time: expected `2022-01-01 12:00:00` (in the time zone) or RFC 3339"
                    )
                })?,
        };
        Ok(Self {
            text: format!("{duration} from {}", start.strftime("%Y-%m-%d %H:%M:%S %Z")),
            start,
            count,
            unit,
        })
    }

    /// The start of the first period, unix seconds.
    pub fn origin(&self) -> i64 {
        self.start.timestamp().as_second()
    }

    /// The start of the `k`th period (0 the one at `start`), unix seconds.
    fn nth(&self, k: i64) -> Option<i64> {
        let n = self.count.checked_mul(k)?;
        let span = match self.unit {
            Unit::Minute => jiff::Span::new().try_minutes(n).ok()?,
            Unit::Hour => jiff::Span::new().try_hours(n).ok()?,
            Unit::Day => jiff::Span::new().try_days(n).ok()?,
            Unit::Week => jiff::Span::new().try_weeks(n).ok()?,
            Unit::Month => jiff::Span::new().try_months(n).ok()?,
            Unit::Quarter => jiff::Span::new().try_months(n.checked_mul(3)?).ok()?,
            Unit::Year => jiff::Span::new().try_years(n).ok()?,
        };
        Some(self.start.checked_add(span).ok()?.timestamp().as_second())
    }

    /// The period `at` falls in: `(start, end)`, unix seconds, `start <= at < end`.
    pub fn period(&self, at: i64) -> Option<(i64, i64)> {
        let origin = self.start.timestamp().as_second();
        let approx = match self.unit {
            Unit::Minute => 60,
            Unit::Hour => 3_600,
            Unit::Day => 86_400,
            Unit::Week => 7 * 86_400,
            Unit::Month => 2_629_746,
            Unit::Quarter => 7_889_238,
            Unit::Year => 31_556_952,
        } * self.count;
        let mut k = (at - origin).div_euclid(approx);
        // The estimate is off by at most one or two periods (month lengths, DST).
        for _ in 0..8 {
            if self.nth(k)? > at {
                k -= 1;
            } else if self.nth(k + 1)? <= at {
                k += 1;
            } else {
                return Some((self.nth(k)?, self.nth(k + 1)?));
            }
        }
        None
    }
}

impl fmt::Display for Calendar {
    /// `1M from 2026-12-01 00:00:00 CET`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_second()
    }

    #[test]
    fn months_follow_the_calendar_in_their_time_zone() {
        let c = Calendar::new("1M", "2026-01-01 00:00:00", Some("Europe/Paris")).unwrap();
        // 15 March 2026 noon UTC: March began at midnight Paris time (23:00 UTC, winter)
        // and April begins at midnight Paris time (22:00 UTC, summer).
        let (start, end) = c.period(unix("2026-03-15T12:00:00Z")).unwrap();
        assert_eq!(start, unix("2026-02-28T23:00:00Z"));
        assert_eq!(end, unix("2026-03-31T22:00:00Z"));
        let q = Calendar::new("1Q", "2026-01-01T00:00:00Z", None).unwrap();
        assert_eq!(
            q.period(unix("2026-05-20T00:00:00Z")).unwrap().0,
            unix("2026-04-01T00:00:00Z")
        );
        let w = Calendar::new("1w", "2026-11-30 00:00:00", Some("UTC")).unwrap();
        assert_eq!(
            w.period(unix("2026-12-08T00:11:00Z")).unwrap().0,
            unix("2026-12-07T00:00:00Z")
        );
    }

    #[test]
    fn refuses_what_it_cannot_count() {
        assert!(Calendar::new("1X", "2026-01-01 00:00:00", None).is_err());
        assert!(Calendar::new("M", "2026-01-01 00:00:00", None).is_err());
        assert!(Calendar::new("1M", "yesterday", None).is_err());
        assert!(Calendar::new("1M", "2026-01-01 00:00:00", Some("Mars/Olympus")).is_err());
    }
}
