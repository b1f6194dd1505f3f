//! Credits of a key: a remaining count that each allowed token check uses
//! one of, with an optional refill to a fixed amount at the start of every
//! UTC day or month. The terms as sent are checked here; no clock.

use serde_json::Value;

use crate::quota::Period;
use crate::text::Invalid;

/// The most credits a key may hold or be refilled to.
pub const MAX_CREDITS: i64 = 1_000_000_000;

/// The refill of a key's credits: at the start of each UTC `period` the
/// remaining count becomes `amount` (it is set, not added to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refill {
    pub amount: i64,
    pub period: Period,
}

/// A key's credits as stored: `remaining` as of the start of the refill
/// period `period_start` (Unix ms; 0 without a refill), and `set_at`, when
/// they were last set by a create, duplicate or edit (Unix ms), which names
/// this setting: counts of an older setting are not applied to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credits {
    pub remaining: i64,
    pub refill: Option<Refill>,
    pub period_start: i64,
    pub set_at: i64,
}

impl Credits {
    /// New credits as sent (`{"remaining": N, "refill"?: {"amount": N,
    /// "period": "day"|"month"}}`), set at `now_ms`. `field` is the name the
    /// client used (`credits`).
    pub fn parse(v: &Value, field: &str, now_ms: i64) -> Result<Credits, Invalid> {
        let obj = v.as_object().ok_or_else(|| {
            Invalid::new(
                field,
                "must be an object {\"remaining\": N, \"refill\"?: {\"amount\": N, \"period\": \"day\"|\"month\"}} or null",
            )
        })?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "remaining" | "refill"))
        {
            return Err(Invalid::new(format!("{field}.{k}"), "unknown field"));
        }
        let remaining = count(obj.get("remaining"), &format!("{field}.remaining"), 0)?;
        let refill = match obj.get("refill") {
            None | Some(Value::Null) => None,
            Some(r) => {
                let name = format!("{field}.refill");
                let r = r.as_object().ok_or_else(|| {
                    Invalid::new(
                        name.as_str(),
                        "must be {\"amount\": N, \"period\": \"day\"|\"month\"} or null",
                    )
                })?;
                if let Some(k) = r
                    .keys()
                    .find(|k| !matches!(k.as_str(), "amount" | "period"))
                {
                    return Err(Invalid::new(format!("{name}.{k}"), "unknown field"));
                }
                let amount = count(r.get("amount"), &format!("{name}.amount"), 1)?;
                let period = r
                    .get("period")
                    .and_then(Value::as_str)
                    .and_then(Period::parse)
                    .ok_or_else(|| {
                        Invalid::new(format!("{name}.period"), "must be \"day\" or \"month\"")
                    })?;
                Some(Refill { amount, period })
            }
        };
        Ok(Credits {
            remaining,
            refill,
            period_start: refill.map_or(0, |r| r.period.bounds(now_ms).0),
            set_at: now_ms,
        })
    }

    /// What is left at `now_ms` of `remaining` stored for `period_start`: a
    /// refill whose period has started since sets it to the amount.
    pub fn remaining_at(&self, now_ms: i64) -> i64 {
        match self.refill {
            Some(r) if r.period.bounds(now_ms).0 > self.period_start => r.amount,
            _ => self.remaining,
        }
    }

    /// The start of the refill period that holds `now_ms` (0 without a refill).
    pub fn period_at(&self, now_ms: i64) -> i64 {
        self.refill.map_or(0, |r| r.period.bounds(now_ms).0)
    }

    /// When the next refill comes (Unix ms), if there is one.
    pub fn next_refill(&self, now_ms: i64) -> Option<i64> {
        self.refill.map(|r| r.period.bounds(now_ms).1)
    }

    /// The mark of the exhaustion at `now_ms`, one per setting and refill
    /// period: `api_key.credits_exhausted` is sent once per mark.
    pub fn exhaustion_mark(&self, now_ms: i64) -> i64 {
        self.period_at(now_ms).max(self.set_at)
    }
}

fn count(v: Option<&Value>, field: &str, min: i64) -> Result<i64, Invalid> {
    v.and_then(Value::as_i64)
        .filter(|n| (min..=MAX_CREDITS).contains(n))
        .ok_or_else(|| {
            Invalid::new(
                field,
                format!("must be a whole number from {min} to {MAX_CREDITS}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_778_544_000_000 + 3_600_000; // 2026-05-12T01:00Z

    #[test]
    fn terms_are_checked_and_named() {
        let c = Credits::parse(
            &json!({"remaining": 3, "refill": {"amount": 5, "period": "day"}}),
            "credits",
            NOW,
        )
        .unwrap();
        assert_eq!(c.remaining, 3);
        assert_eq!(c.period_start, 1_778_544_000_000);
        for (bad, field) in [
            (json!({"remaining": -1}), "credits.remaining"),
            (json!({"remaining": 1.5}), "credits.remaining"),
            (json!({}), "credits.remaining"),
            (
                json!({"remaining": 1, "refill": {"amount": 0, "period": "day"}}),
                "credits.refill.amount",
            ),
            (
                json!({"remaining": 1, "refill": {"amount": 1, "period": "week"}}),
                "credits.refill.period",
            ),
            (json!({"remaining": 1, "extra": 1}), "credits.extra"),
            (json!(5), "credits"),
        ] {
            assert_eq!(
                Credits::parse(&bad, "credits", NOW).unwrap_err().source,
                field
            );
        }
    }

    #[test]
    fn a_refill_sets_the_amount_when_its_period_starts() {
        let c = Credits::parse(
            &json!({"remaining": 0, "refill": {"amount": 5, "period": "day"}}),
            "credits",
            NOW,
        )
        .unwrap();
        assert_eq!(c.remaining_at(NOW), 0);
        assert_eq!(c.next_refill(NOW), Some(1_778_544_000_000 + 86_400_000));
        assert_eq!(c.remaining_at(NOW + 86_400_000), 5);
        assert!(c.exhaustion_mark(NOW + 86_400_000) > c.exhaustion_mark(NOW));
    }
}
