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

/// An RFC 3339 timestamp (`2026-05-12T00:00:00Z`, `…T00:00:00.250+02:00`; `T`
/// or a space, `Z` or an offset; fractions beyond milliseconds ignored) as
/// Unix milliseconds, or `None` when it is not one.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_ascii() {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d < 1
        || d > month_days[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut ms = 0;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = &s[start..i.min(start + 3)];
        ms = digits.parse::<i64>().ok()? * 10_i64.pow(3 - digits.len() as u32);
    }
    let offset_min = match &s[i..] {
        "Z" | "z" => 0,
        o if o.len() == 6 && matches!(o.as_bytes()[0], b'+' | b'-') && o.as_bytes()[3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (oh * 60 + om)
        }
        _ => return None,
    };
    // Howard Hinnant's days_from_civil.
    let (y, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec.min(59) - offset_min * 60;
    Some(secs * 1000 + ms)
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

    #[test]
    fn parses_rfc3339_back() {
        for ms in [0, 951_782_400_123, 1_709_251_199_000, 1_778_544_000_000] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ms)), Some(ms));
        }
        assert_eq!(
            parse_rfc3339("2026-05-12T02:00:00+02:00"),
            Some(1_778_544_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-05-12T00:00:00Z"),
            Some(1_778_544_000_000)
        );
        for bad in [
            "2026-05-12",
            "2026-02-30T00:00:00Z",
            "2026-05-12T00:00:00",
            "x026-05-12T00:00:00Z",
            "2026-05-12T00:00:00.Z",
            "2026-05-12T25:00:00Z",
            "2026-05-12T00:00:00+2:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
