//! Formatting times, in UTC with whole seconds: RFC 3339 (`2026-01-01T00:00:00Z`) for people
//! and JSON, and SigV4's `X-Amz-Date` (`20260101T000000Z`). A leaf: it depends on nothing in the
//! crate.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

/// `YYYYMMDDTHHMMSSZ`, the X-Amz-Date format.
pub const AMZ_DATE_FORMAT: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// `2026-01-01T00:00:00Z`.
const RFC3339_SECONDS: &[time::format_description::FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Formats a time as RFC 3339 in UTC with whole seconds (`2026-01-01T00:00:00Z`).
pub fn rfc3339(t: OffsetDateTime) -> String {
    format_utc(t, RFC3339_SECONDS)
}

/// Formats a time in UTC with a fixed, numeric-only description (which cannot fail to format).
pub fn format_utc(t: OffsetDateTime, format: &[FormatItem<'_>]) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format)
        .unwrap_or_default()
}

/// A time as X-Amz-Date.
pub fn amz_date(t: OffsetDateTime) -> String {
    format_utc(t, AMZ_DATE_FORMAT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_is_utc_basic_format() {
        let t = time::macros::datetime!(2026-03-04 05:06:07 +02:00);
        assert_eq!(amz_date(t), "20260304T030607Z");
    }
}
