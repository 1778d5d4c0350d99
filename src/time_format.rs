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
    AmzDate::new(t).as_str().to_owned()
}

/// A time as X-Amz-Date (`YYYYMMDDTHHMMSSZ`, UTC), held on the stack: the proxy stamps every
/// request with one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmzDate([u8; 16]);

impl AmzDate {
    /// `t` in UTC (`time` holds years 0 to 9999 only, so four digits always suffice).
    pub fn new(t: OffsetDateTime) -> Self {
        let t = t.to_offset(time::UtcOffset::UTC);
        let mut text = *b"00000000T000000Z";
        let year = u32::try_from(t.year().clamp(0, 9999)).unwrap_or(0);
        put_digits(&mut text[0..4], year);
        put_digits(&mut text[4..6], u8::from(t.month()).into());
        put_digits(&mut text[6..8], t.day().into());
        put_digits(&mut text[9..11], t.hour().into());
        put_digits(&mut text[11..13], t.minute().into());
        put_digits(&mut text[13..15], t.second().into());
        Self(text)
    }

    /// `YYYYMMDDTHHMMSSZ`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// `YYYYMMDD`, the credential scope's day.
    pub fn day(&self) -> &str {
        self.as_str().get(..8).unwrap_or_default()
    }
}

/// Writes `value` as decimal digits filling `digits`, zero-padded.
fn put_digits(digits: &mut [u8], mut value: u32) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_is_utc_basic_format() {
        let t = time::macros::datetime!(2026-03-04 05:06:07 +02:00);
        assert_eq!(amz_date(t), "20260304T030607Z");
        assert_eq!(AmzDate::new(t).day(), "20260304");
    }

    #[test]
    fn amz_date_matches_the_format_description() {
        for seconds in [
            0,
            951_782_400,
            1_709_251_199,
            4_102_444_799,
            253_402_300_799,
        ] {
            let t = OffsetDateTime::from_unix_timestamp(seconds).expect("a time");
            assert_eq!(AmzDate::new(t).as_str(), format_utc(t, AMZ_DATE_FORMAT));
        }
    }
}
