//! Timestamps are Unix milliseconds everywhere inside Keygate; these format them
//! for people and for Airwallex-compatible clients.

/// `2026-05-12T00:00:00+0000`, the shape of Airwallex's `expires_at`.
pub fn format_airwallex(unix_ms: i64) -> String {
    let (date, time) = civil(unix_ms);
    format!("{date}T{time}+0000")
}

/// RFC 3339 in UTC with milliseconds: `2026-05-12T00:00:00.000Z`.
pub fn format_rfc3339(unix_ms: i64) -> String {
    let (date, time) = civil(unix_ms);
    format!("{date}T{time}.{:03}Z", unix_ms.rem_euclid(1000))
}

fn civil(unix_ms: i64) -> (String, String) {
    let secs = unix_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days_from_civil, inverted.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_airwallex() {
        assert_eq!(format_airwallex(0), "1970-01-01T00:00:00+0000");
        assert_eq!(
            format_airwallex(1_778_544_000_000),
            "2026-05-12T00:00:00+0000"
        );
    }

    #[test]
    fn formats_rfc3339_with_millis_and_leap_days() {
        assert_eq!(format_rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(
            format_rfc3339(1_709_251_199_000),
            "2024-02-29T23:59:59.000Z"
        );
    }
}
