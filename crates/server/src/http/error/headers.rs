//! The RateLimit header fields of a key's rate limit and of a plan's quota,
//! on refused token checks (`ApiError::RateLimited`, `ApiError::QuotaExceeded`)
//! and on allowed ones alike (the gateway and forward-auth).

use axum::http::HeaderValue;

use crate::state::rate_limits::RateLimitStatus;

/// The IETF RateLimit header fields, named at compile time (a name made at
/// run time is checked again on every request).
const RATELIMIT_POLICY: axum::http::HeaderName =
    axum::http::HeaderName::from_static("ratelimit-policy");
const RATELIMIT: axum::http::HeaderName = axum::http::HeaderName::from_static("ratelimit");

/// A key's rate limit in the IETF httpapi RateLimit header fields
/// (draft-ietf-httpapi-ratelimit-headers-10/11, structured fields):
/// `RateLimit-Policy: "default";q=5;w=60` (quota and window) and
/// `RateLimit: "default";r=0;t=42` (remaining and seconds until the window
/// resets). On allowed and refused token checks alike.
pub fn rate_limit_headers(s: &RateLimitStatus, h: &mut axum::http::HeaderMap) {
    fields("default", s, h);
}

/// A plan's quota in the same header fields, its policy named after the
/// period: `RateLimit-Policy: "quota_day";q=1000;w=86400` and
/// `RateLimit: "quota_day";r=0;t=3600` (seconds until the UTC period ends).
pub fn quota_headers(
    period: keygate_core::quota::Period,
    s: &RateLimitStatus,
    h: &mut axum::http::HeaderMap,
) {
    let name = match period {
        keygate_core::quota::Period::Day => "quota_day",
        keygate_core::quota::Period::Month => "quota_month",
    };
    fields(name, s, h);
}

/// Both fields of policy `name`, written on the stack without the formatting
/// machinery: every allowed check of a limited key answers with them (two
/// `format!` and four allocations a check, before).
fn fields(name: &str, s: &RateLimitStatus, h: &mut axum::http::HeaderMap) {
    let mut policy = Field::default();
    policy.put(&["\"", name, "\";q="]);
    policy.number(s.limit.requests);
    policy.put(&[";w="]);
    policy.number(s.limit.per_seconds);
    let mut state = Field::default();
    state.put(&["\"", name, "\";r="]);
    state.number(s.remaining);
    state.put(&[";t="]);
    state.number(s.reset_secs);
    if let (Some(p), Some(v)) = (policy.value(), state.value()) {
        h.insert(RATELIMIT_POLICY, p);
        h.insert(RATELIMIT, v);
    }
}

/// A header value being written: the longest (`"quota_month";q=` and two
/// ten-digit numbers) takes 39 bytes.
struct Field {
    buf: [u8; 64],
    len: usize,
}

impl Default for Field {
    fn default() -> Field {
        Field {
            buf: [0; 64],
            len: 0,
        }
    }
}

impl Field {
    fn put(&mut self, parts: &[&str]) {
        for p in parts {
            self.bytes(p.as_bytes());
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        let end = (self.len + b.len()).min(self.buf.len());
        self.buf[self.len..end].copy_from_slice(&b[..end - self.len]);
        self.len = end;
    }

    fn number(&mut self, mut n: u32) {
        let mut digits = [0u8; 10];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.bytes(&digits[at..]);
    }

    fn value(&self) -> Option<HeaderValue> {
        HeaderValue::from_bytes(&self.buf[..self.len]).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_core::RateLimit;

    /// The fields read exactly as `format!` writes them, at the edges of a
    /// `u32` too.
    #[test]
    fn the_fields_are_written_as_format_writes_them() {
        for (requests, per_seconds, remaining, reset_secs) in [
            (5, 60, 0, 42),
            (1, 1, 1, 1),
            (10, 100, 9, 99),
            (u32::MAX, u32::MAX, u32::MAX, u32::MAX),
            (1_000_000_000, 86_400, 999_999_999, 86_399),
        ] {
            let s = RateLimitStatus {
                limit: RateLimit {
                    requests,
                    per_seconds,
                },
                remaining,
                reset_secs,
                retry_after_secs: 0,
            };
            for (period, name) in [
                (None, "default"),
                (Some(keygate_core::quota::Period::Day), "quota_day"),
                (Some(keygate_core::quota::Period::Month), "quota_month"),
            ] {
                let mut h = axum::http::HeaderMap::new();
                match period {
                    None => rate_limit_headers(&s, &mut h),
                    Some(p) => quota_headers(p, &s, &mut h),
                }
                assert_eq!(
                    h[&RATELIMIT_POLICY],
                    format!("\"{name}\";q={requests};w={per_seconds}").as_str()
                );
                assert_eq!(
                    h[&RATELIMIT],
                    format!("\"{name}\";r={remaining};t={reset_secs}").as_str()
                );
            }
        }
    }
}
