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
    let policy = format!(
        "\"default\";q={};w={}",
        s.limit.requests, s.limit.per_seconds
    );
    let state = format!("\"default\";r={};t={}", s.remaining, s.reset_secs);
    if let (Ok(p), Ok(v)) = (
        HeaderValue::from_str(&policy),
        HeaderValue::from_str(&state),
    ) {
        h.insert(RATELIMIT_POLICY, p);
        h.insert(RATELIMIT, v);
    }
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
    let policy = format!(
        "\"{name}\";q={};w={}",
        s.limit.requests, s.limit.per_seconds
    );
    let state = format!("\"{name}\";r={};t={}", s.remaining, s.reset_secs);
    if let (Ok(p), Ok(v)) = (
        HeaderValue::from_str(&policy),
        HeaderValue::from_str(&state),
    ) {
        h.insert(RATELIMIT_POLICY, p);
        h.insert(RATELIMIT, v);
    }
}
