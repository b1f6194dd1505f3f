//! Plans and their quotas: at most N allowed token checks per UTC calendar
//! day or month over all of an organization's keys. Periods only; no clock.

use serde::{Deserialize, Serialize};

use crate::rate_limit::RateLimit;
use crate::text::Invalid;

/// A quota's period: a UTC calendar day or month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Month,
}

const DAY_MS: i64 = 86_400_000;

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "day" => Some(Period::Day),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// `[start, end)` in Unix ms of the period that holds `now_ms`.
    pub fn bounds(self, now_ms: i64) -> (i64, i64) {
        let day = now_ms.div_euclid(DAY_MS);
        match self {
            Period::Day => (day * DAY_MS, (day + 1) * DAY_MS),
            Period::Month => {
                let (y, m, _) = civil_from_days(day);
                let start = days_from_civil(y, m, 1);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (start * DAY_MS, days_from_civil(ny, nm, 1) * DAY_MS)
            }
        }
    }
}

/// One quota of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quota {
    pub period: Period,
    pub requests: u32,
}

/// The percentages of a quota that fire `quota.threshold`, once each per
/// organization, quota and period.
pub const THRESHOLDS: [u8; 3] = [80, 90, 100];

/// The count at which `percent` of `requests` is reached (at least 1).
pub fn threshold_count(requests: u32, percent: u8) -> u32 {
    (u64::from(requests) * u64::from(percent))
        .div_ceil(100)
        .max(1)
        .try_into()
        .unwrap_or(u32::MAX)
}

/// A plan as the operator sells it: quotas (at most one per period) and the
/// rate limit for keys that set none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub plan_id: String,
    pub name: String,
    pub quotas: Vec<Quota>,
    pub rate_limit: Option<RateLimit>,
}

impl Plan {
    /// A plan id: `[a-z0-9_-]{1,64}`.
    pub fn check_id(v: &str) -> Result<(), Invalid> {
        let ok = !v.is_empty()
            && v.len() <= 64
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'));
        if ok {
            Ok(())
        } else {
            Err(Invalid::new("plan_id", "must match [a-z0-9_-]{1,64}"))
        }
    }

    /// Quotas as sent: each period at most once, requests from 1 to 10⁹.
    pub fn check_quotas(quotas: &[(String, i64)]) -> Result<Vec<Quota>, Invalid> {
        let mut out: Vec<Quota> = Vec::with_capacity(quotas.len());
        for (i, (period, requests)) in quotas.iter().enumerate() {
            let period = Period::parse(period).ok_or_else(|| {
                Invalid::new(
                    format!("quotas[{i}].period"),
                    "must be \"day\" or \"month\"",
                )
            })?;
            if out.iter().any(|q| q.period == period) {
                return Err(Invalid::new(
                    format!("quotas[{i}].period"),
                    "at most one quota per period",
                ));
            }
            if *requests <= 0 || *requests > RateLimit::MAX_REQUESTS {
                return Err(Invalid::new(
                    format!("quotas[{i}].requests"),
                    format!(
                        "must be a whole number from 1 to {}",
                        RateLimit::MAX_REQUESTS
                    ),
                ));
            }
            out.push(Quota {
                period,
                requests: *requests as u32,
            });
        }
        Ok(out)
    }

    pub fn quota(&self, period: Period) -> Option<u32> {
        self.quotas
            .iter()
            .find(|q| q.period == period)
            .map(|q| q.requests)
    }
}

// Howard Hinnant's civil calendar algorithms (as in `time.rs`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    #[test]
    fn periods_are_utc_calendar_days_and_months() {
        let t = parse_rfc3339("2028-02-29T13:45:00Z").unwrap();
        let (s, e) = Period::Day.bounds(t);
        assert_eq!(s, parse_rfc3339("2028-02-29T00:00:00Z").unwrap());
        assert_eq!(e, parse_rfc3339("2028-03-01T00:00:00Z").unwrap());
        let (s, e) = Period::Month.bounds(t);
        assert_eq!(s, parse_rfc3339("2028-02-01T00:00:00Z").unwrap());
        assert_eq!(e, parse_rfc3339("2028-03-01T00:00:00Z").unwrap());
        let dec = parse_rfc3339("2026-12-31T23:59:59.999Z").unwrap();
        assert_eq!(
            Period::Month.bounds(dec).1,
            parse_rfc3339("2027-01-01T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn thresholds_round_up_and_quotas_are_checked() {
        assert_eq!(threshold_count(10, 80), 8);
        assert_eq!(threshold_count(3, 90), 3);
        assert_eq!(threshold_count(1, 80), 1);
        assert!(Plan::check_quotas(&[("day".into(), 5), ("day".into(), 6)]).is_err());
        assert_eq!(
            Plan::check_quotas(&[("week".into(), 5)])
                .unwrap_err()
                .source,
            "quotas[0].period"
        );
        assert!(Plan::check_id("pro-2026_a").is_ok());
        assert!(Plan::check_id("Pro").is_err());
    }
}
