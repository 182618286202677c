//! Timestamps as the schemes send them, and the clock-skew window.
//!
//! keyward-sig never reads a clock: the caller passes "now" in epoch milliseconds.

use crate::error::{Field, VerifyError};

/// The accepted difference between a request's timestamp and the server's clock, either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockWindow {
    millis: i64,
}

impl ClockWindow {
    /// ±300 seconds, the default of DESIGN section 1.
    pub const DEFAULT: ClockWindow = ClockWindow { millis: 300_000 };

    /// A window of `seconds` either way.
    pub const fn from_secs(seconds: u32) -> Self {
        ClockWindow { millis: seconds as i64 * 1000 }
    }

    /// The window in milliseconds.
    pub fn as_millis(self) -> i64 {
        self.millis
    }

    /// Ok when `timestamp_ms` lies within the window around `now_ms`.
    pub fn check(self, timestamp_ms: i64, now_ms: i64) -> Result<(), VerifyError> {
        let skew_ms = timestamp_ms.saturating_sub(now_ms);
        if skew_ms.checked_abs().is_some_and(|skew| skew <= self.millis) {
            Ok(())
        } else {
            Err(VerifyError::TimestampOutsideWindow {
                timestamp_ms,
                now_ms,
                skew_ms,
                window_ms: self.millis,
            })
        }
    }
}

impl Default for ClockWindow {
    fn default() -> Self {
        ClockWindow::DEFAULT
    }
}

/// Parses epoch milliseconds as query-hmac `ms` and header-hmac `x-logtrust-timestamp` carry
/// them: ASCII digits, optionally followed by `.` and more digits (one published DevResults
/// sample formats a double, `1732431234567.891`). The fraction is ignored for the window; the
/// signed text is always the text as sent.
pub fn parse_epoch_millis(text: &[u8], field: Field) -> Result<i64, VerifyError> {
    let (whole, fraction) = match text.iter().position(|&c| c == b'.') {
        Some(dot) => (&text[..dot], Some(&text[dot + 1..])),
        None => (text, None),
    };
    if whole.is_empty() || !whole.iter().all(u8::is_ascii_digit) {
        return Err(VerifyError::malformed(field, "expected epoch milliseconds"));
    }
    if fraction.is_some_and(|f| f.is_empty() || !f.iter().all(u8::is_ascii_digit)) {
        return Err(VerifyError::malformed(field, "expected epoch milliseconds"));
    }
    // At most 18 digits always fits an i64; longer values are no plausible time.
    if whole.len() > 18 {
        return Err(VerifyError::malformed(field, "timestamp out of range"));
    }
    Ok(whole.iter().fold(0i64, |acc, &c| acc * 10 + i64::from(c - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_integer_fractional_and_second_resolution_millis() {
        let f = Field::QueryTimestamp;
        assert_eq!(parse_epoch_millis(b"1732431234567", f), Ok(1_732_431_234_567));
        assert_eq!(parse_epoch_millis(b"1732431234567.891", f), Ok(1_732_431_234_567));
        assert_eq!(parse_epoch_millis(b"1732431234000", f), Ok(1_732_431_234_000));
        for bad in [&b""[..], b"12a", b"-5", b"1.", b".5", b"1.2.3", b" 1", b"1234567890123456789"]
        {
            assert_eq!(parse_epoch_millis(bad, f).map_err(|e| e.code()), Err("malformed-field"));
        }
    }

    #[test]
    fn window_is_inclusive_and_reports_skew() {
        let window = ClockWindow::from_secs(300);
        assert!(window.check(1_300_000, 1_000_000).is_ok());
        assert!(window.check(700_000, 1_000_000).is_ok());
        let err = window.check(1_300_001, 1_000_000).unwrap_err();
        assert_eq!(
            err,
            VerifyError::TimestampOutsideWindow {
                timestamp_ms: 1_300_001,
                now_ms: 1_000_000,
                skew_ms: 300_001,
                window_ms: 300_000
            }
        );
        assert!(window.check(i64::MIN, i64::MAX).is_err());
    }
}
