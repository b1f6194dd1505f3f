//! The answer an `ApiError` makes: its status and JSON body, and the headers
//! some errors add (`WWW-Authenticate` for a refused token, `Allow`,
//! `Retry-After`, the rate-limit and quota fields, `Connection: close` after a
//! slow body), always with `Cache-Control: no-store`.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::headers::{quota_headers, rate_limit_headers};

/// RFC 9449 §7.1 challenges, naming the algorithms a proof may use.
const DPOP_PROOF_CHALLENGE: &str = r#"DPoP error="invalid_dpop_proof", algs="ES256 EdDSA""#;
const DPOP_TOKEN_CHALLENGE: &str = r#"DPoP error="invalid_token", algs="ES256 EdDSA""#;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let bearer = matches!(self, ApiError::BadToken);
        let dpop = match &self {
            ApiError::DpopRefused { proof: true, .. } => Some(DPOP_PROOF_CHALLENGE),
            ApiError::DpopRefused { proof: false, .. } => Some(DPOP_TOKEN_CHALLENGE),
            _ => None,
        };
        let allow = matches!(self, ApiError::UnsupportedMethod { .. });
        // The rest of a slow body is not waited for: the connection ends.
        let close = matches!(self, ApiError::RequestTimeout);
        let retry = match self {
            ApiError::TooManyAttempts { retry_after_secs }
            | ApiError::Busy { retry_after_secs } => Some(retry_after_secs.max(1)),
            ApiError::RateLimited(s) | ApiError::QuotaExceeded { status: s, .. } => {
                Some(u64::from(s.retry_after_secs.max(1)))
            }
            ApiError::CreditsExhausted { retry_after_secs } => retry_after_secs,
            _ => None,
        };
        let limit = match &self {
            ApiError::RateLimited(s) => Some(*s),
            _ => None,
        };
        let quota = match &self {
            ApiError::QuotaExceeded { period, status } => Some((*period, *status)),
            _ => None,
        };
        let (status, body) = self.parts();
        let mut resp = (status, Json(body)).into_response();
        let h = resp.headers_mut();
        if bearer {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(c) = dpop {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        if allow {
            h.insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
            );
        }
        if let Some(secs) = retry {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(s) = limit {
            rate_limit_headers(&s, h);
        }
        if let Some((period, s)) = quota {
            quota_headers(period, &s, h);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if close {
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use axum::http::StatusCode;

    use crate::service;

    /// A 5xx body's `trace_id` is the request's id (set by `common_layers`),
    /// so the caller's `x-request-id` finds the log line; the service's own
    /// `trace()` (used by the app's error page) says the same id.
    #[tokio::test]
    async fn trace_id_of_5xx_bodies_is_the_request_id() {
        let (resp, traced) =
            crate::state::request_id::scope(HeaderValue::from_static("req-7"), async {
                let resp = ApiError::Internal("boom".into()).into_response();
                (resp, service::Error::Unavailable("down".into()).trace())
            })
            .await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["trace_id"], "req-7");
        assert_eq!(traced.as_deref(), Some("req-7"));
        // Outside a request (background work) a fresh id is made.
        let resp = ApiError::StaleCache.into_response();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["trace_id"].as_str().map(str::len), Some(22));
    }
}
