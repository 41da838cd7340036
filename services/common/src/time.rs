//! Timestamps: stored as UTC `DATETIME(3)` and written as RFC 3339 with
//! millisecond precision and a `Z`, so what a client reads back equals what it got.

use chrono::{NaiveDateTime, SecondsFormat, SubsecRound, Utc};

/// Now in UTC, truncated to milliseconds (what a `DATETIME(3)` column keeps).
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(3)
}

/// `2026-11-22T10:11:01.123Z`.
pub fn rfc3339(t: &NaiveDateTime) -> String {
    // Not `format("%Y-...")`: parsing the format string on every call showed up in
    // profiles of list endpoints.
    t.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// serde `serialize_with` helper writing [`rfc3339`].
pub fn serialize<S: serde::Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_millis_and_z() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 2)
            .and_then(|d| d.and_hms_milli_opt(3, 4, 5, 60))
            .unwrap();
        assert_eq!(rfc3339(&t), "2026-01-02T03:04:05.060Z");
        let whole = chrono::NaiveDate::from_ymd_opt(2026, 12, 31)
            .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 0))
            .unwrap();
        assert_eq!(rfc3339(&whole), "2026-12-31T23:59:59.000Z");
    }
}
