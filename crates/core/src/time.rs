//! Timestamps are Unix milliseconds everywhere inside Keygate; these format them
//! for people and for Airwallex-compatible clients.

/// `2026-05-12T00:00:00+0000`, the shape of Airwallex's `expires_at`.
pub fn format_airwallex(unix_ms: i64) -> String {
    let mut out = String::with_capacity(24);
    push_civil(&mut out, unix_ms);
    out.push_str("+0000");
    out
}

/// RFC 3339 in UTC with milliseconds: `2026-05-12T00:00:00.000Z`.
pub fn format_rfc3339(unix_ms: i64) -> String {
    let mut out = String::with_capacity(24);
    push_civil(&mut out, unix_ms);
    out.push('.');
    push_digits(&mut out, unix_ms.rem_euclid(1000), 3);
    out.push('Z');
    out
}

/// Parses an RFC 3339 date-time (`2026-05-12T00:00:00Z`, `…T08:00:00.5+08:00`;
/// `t`/`z` and a space for `T` are accepted, as RFC 3339 allows) to Unix ms.
/// `None` for anything else, including impossible dates and leap seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, c: &[u8]| b.get(at).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days_in = [
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
        || d > days_in[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || sec > 59
    {
        return None;
    }
    let mut i = 19;
    let mut ms = 0;
    if sep(i, b".") {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                ms = ms * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        match i - start {
            0 => return None,
            1 => ms *= 100,
            2 => ms *= 10,
            _ => {}
        }
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(c @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b":") => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if *c == b'-' { -m } else { m }
        }
        _ => return None,
    };
    // Howard Hinnant's days_from_civil.
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + ms)
}

/// `2026-05-12T00:00:00` written to `out` digit by digit (every login's
/// `expires_at`: `format!` cost more than the arithmetic).
fn push_civil(out: &mut String, unix_ms: i64) {
    let (y, m, d, rem) = civil(unix_ms);
    if (0..=9999).contains(&y) {
        push_digits(out, y, 4);
    } else {
        out.push_str(&format!("{y:04}"));
    }
    for (sep, v) in [
        ('-', m),
        ('-', d),
        ('T', rem / 3600),
        (':', rem % 3600 / 60),
        (':', rem % 60),
    ] {
        out.push(sep);
        push_digits(out, v, 2);
    }
}

/// `v` (0 ≤ v < 10^width) in exactly `width` digits.
fn push_digits(out: &mut String, v: i64, width: u32) {
    for p in (0..width).rev() {
        let digit = (v / 10i64.pow(p)).rem_euclid(10) as u8;
        out.push(char::from(b'0' + digit));
    }
}

/// Year, month, day and the second of the day.
fn civil(unix_ms: i64) -> (i64, i64, i64, i64) {
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
    (y, m, d, rem)
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
    fn parses_rfc3339_with_offsets_and_fractions_and_refuses_the_rest() {
        assert_eq!(
            parse_rfc3339("2026-05-12T00:00:00Z"),
            Some(1_778_544_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-05-12T08:00:00+08:00"),
            Some(1_778_544_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-05-11T23:00:00.5-01:00"),
            Some(1_778_544_000_500)
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00.123Z"),
            Some(951_782_400_123)
        );
        assert_eq!(
            parse_rfc3339(&format_rfc3339(1_709_251_199_042)),
            Some(1_709_251_199_042)
        );
        for bad in [
            "",
            "2026-05-12",
            "2026-05-12T00:00:00",
            "2026-02-30T00:00:00Z",
            "2026-05-12T24:00:00Z",
            "2026-05-12T00:00:60Z",
            "2026-05-12T00:00:00.Z",
            "2026-05-12T00:00:00+0800",
            "tomorrow",
            "2026-05-12T00:00:00Zjunk",
            "+026-05-12T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn digit_by_digit_writes_what_format_would() {
        let mut ms = -62_135_596_800_000_i64 * 2; // well before year 1
        while ms < 253_402_300_800_000 * 2 {
            let (y, m, d, rem) = civil(ms);
            let time = format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
            let date = format!("{y:04}-{m:02}-{d:02}");
            assert_eq!(format_airwallex(ms), format!("{date}T{time}+0000"), "{ms}");
            let millis = ms.rem_euclid(1000);
            assert_eq!(
                format_rfc3339(ms),
                format!("{date}T{time}.{millis:03}Z"),
                "{ms}"
            );
            ms += 7_777_777_777_123;
        }
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
