//! A key's rate limit: at most `requests` token checks per `per_seconds`.

use serde::{Deserialize, Serialize};

use crate::text::Invalid;

/// At most `requests` allowed token checks in each window of `per_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RateLimit {
    pub requests: u32,
    pub per_seconds: u32,
}

impl RateLimit {
    /// The longest window: a day.
    pub const MAX_WINDOW_SECS: i64 = 86_400;
    /// The most requests one window may allow.
    pub const MAX_REQUESTS: i64 = 1_000_000_000;

    /// Checks a limit as a client sent it; `field` names it in errors
    /// (`rate_limit` gives `rate_limit.requests` and `rate_limit.per_seconds`).
    pub fn new(requests: i64, per_seconds: i64, field: &str) -> Result<RateLimit, Invalid> {
        if requests <= 0 || requests > Self::MAX_REQUESTS {
            return Err(Invalid::new(
                format!("{field}.requests"),
                format!("must be a whole number from 1 to {}", Self::MAX_REQUESTS),
            ));
        }
        if per_seconds <= 0 || per_seconds > Self::MAX_WINDOW_SECS {
            return Err(Invalid::new(
                format!("{field}.per_seconds"),
                format!(
                    "must be a whole number of seconds from 1 to {} (a day)",
                    Self::MAX_WINDOW_SECS
                ),
            ));
        }
        Ok(RateLimit {
            requests: requests as u32,
            per_seconds: per_seconds as u32,
        })
    }

    /// A limit as stored: both columns set and in range, else none.
    pub fn from_columns(requests: Option<i64>, per_seconds: Option<i64>) -> Option<RateLimit> {
        RateLimit::new(requests?, per_seconds?, "rate_limit").ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_the_range_name_their_field() {
        assert_eq!(
            RateLimit::new(5, 60, "rate_limit").unwrap(),
            RateLimit {
                requests: 5,
                per_seconds: 60
            }
        );
        assert_eq!(
            RateLimit::new(0, 60, "rate_limit").unwrap_err().source,
            "rate_limit.requests"
        );
        assert_eq!(
            RateLimit::new(-3, 60, "rate_limit").unwrap_err().source,
            "rate_limit.requests"
        );
        assert_eq!(
            RateLimit::new(5, 0, "rate_limit").unwrap_err().source,
            "rate_limit.per_seconds"
        );
        assert_eq!(
            RateLimit::new(5, 86_401, "rate_limit").unwrap_err().source,
            "rate_limit.per_seconds"
        );
        assert!(RateLimit::new(5, 86_400, "rate_limit").is_ok());
    }
}
