//! The one error type at the HTTP edge, mapped to API.md's table.
//!
//! Internal errors log their detail with a trace id and answer only the id: no
//! database message, secret or stack ever reaches a response body.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keygate_core::text::{Invalid, clip};
use keygate_store::StoreError;
use serde::Serialize;

use crate::middleware::headers::Repeated;
use crate::service;
use crate::state::rate_limits::RateLimitStatus;

#[derive(Debug)]
pub enum ApiError {
    Validation {
        source: String,
        message: String,
    },
    InvalidJson(String),
    BadRequest(&'static str, String),
    /// Bad key, client id or session: one body for all of them.
    Unauthorized,
    /// A missing, malformed, expired or forged bearer token.
    BadToken,
    /// A token under the `DPoP` scheme refused (RFC 9449 §7.1): 401 with
    /// `WWW-Authenticate: DPoP error="…"`; `proof` says whether the proof
    /// (`invalid_dpop_proof`) or the token (`invalid_token`) failed.
    DpopRefused {
        proof: bool,
        message: &'static str,
    },
    /// A DPoP proof sent to get a token that does not hold: 400
    /// `invalid_dpop_proof`.
    BadDpopProof(&'static str),
    PasswordConfirmationFailed,
    Forbidden(&'static str),
    TwoFactorRequired,
    /// Password sign-in of a member whose organization enforces single sign-on.
    SsoRequired,
    LoginAsNotAllowed,
    /// A key or token of an organization the operator suspended.
    OrgSuspended,
    NotFound,
    /// No route has this path: `no route GET /foo` (path clipped, no query).
    NoRoute(String),
    MethodNotAllowed,
    /// A method outside GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS at the
    /// gateway or forward-auth; `source` names the header that carried it.
    UnsupportedMethod {
        source: Option<&'static str>,
    },
    Conflict(String),
    /// The request body did not arrive within `--body-timeout` or came slower
    /// than `--body-min-rate` (`body_deadline`).
    RequestTimeout,
    /// The request body's framing is broken (a bad chunk): 400 `invalid_body`.
    InvalidBody,
    PayloadTooLarge,
    /// A body that is not declared `application/json`.
    UnsupportedMediaType,
    /// More than `http::layers::HEADER_LIMIT` bytes of request headers.
    HeadersTooLarge,
    /// A request target longer than `http::layers::URI_LIMIT`.
    UriTooLong,
    TooManyAttempts {
        retry_after_secs: u64,
    },
    /// A token check over its key's rate limit: 429 with `Retry-After` and
    /// the `RateLimit-Policy` / `RateLimit` headers.
    RateLimited(RateLimitStatus),
    /// The organization used up its plan's quota for this UTC day or month.
    QuotaExceeded {
        period: keygate_core::quota::Period,
        status: RateLimitStatus,
    },
    /// The key's credits are used up: 429 `credits_exhausted`, with
    /// `Retry-After` to the refill when there is one.
    CreditsExhausted {
        retry_after_secs: Option<u64>,
    },
    BadGateway(&'static str),
    GatewayTimeout,
    Unavailable(String),
    /// 503 from the hot path when the credential cache cannot be trusted;
    /// logged once in a while by the cache, not per request.
    StaleCache,
    /// Too much work at once (password checks): 503 with `Retry-After`.
    Busy {
        retry_after_secs: u64,
    },
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable, snake_case.
    pub code: &'static str,
    pub message: String,
    /// The field or header at fault, where one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// For 500 and 503: quote it to the operator; the log has the detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> ApiError {
        ApiError::Validation {
            source: e.source,
            message: e.message,
        }
    }
}

/// A header sent more than once (`headers::one`).
impl From<Repeated> for ApiError {
    fn from(Repeated(name): Repeated) -> ApiError {
        ApiError::validation(
            name,
            format!("the {name} header is sent more than once; send it once"),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict(m) => ApiError::Conflict(m.to_owned()),
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
            StoreError::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// The one conversion from the domain's error to the API's status and code.
impl From<service::Error> for ApiError {
    fn from(e: service::Error) -> ApiError {
        use service::Error as E;
        match e {
            E::Invalid { field, message } => ApiError::Validation {
                source: field,
                message,
            },
            E::NotFound => ApiError::NotFound,
            E::Conflict(m) => ApiError::Conflict(m),
            E::Unauthorized => ApiError::Unauthorized,
            E::PasswordRejected => ApiError::PasswordConfirmationFailed,
            E::TooManyAttempts { retry_after_secs } => {
                ApiError::TooManyAttempts { retry_after_secs }
            }
            E::Forbidden(need) => ApiError::Forbidden(need.sentence()),
            E::NotAllowed(m) => ApiError::Forbidden(m),
            E::TwoFactorRequired => ApiError::TwoFactorRequired,
            E::SsoRequired => ApiError::SsoRequired,
            E::LoginAsNotAllowed => ApiError::LoginAsNotAllowed,
            E::OrgSuspended => ApiError::OrgSuspended,
            E::InvalidScope => ApiError::BadRequest(
                "invalid_scope",
                "scope asks for more than the key allows".into(),
            ),
            E::InvalidDpopProof(e) => ApiError::BadDpopProof(proof_message(e)),
            // A key that takes only bound tokens, asked without a proof: the
            // login answers as for any credential it refuses.
            E::DpopRequired | E::SubjectTokenRefused(_) => ApiError::Unauthorized,
            E::Unavailable(m) => ApiError::Unavailable(m),
            E::StaleCache => ApiError::StaleCache,
            E::Busy { retry_after_secs } => ApiError::Busy { retry_after_secs },
            E::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// RFC 9449 §7.1 challenges, naming the algorithms a proof may use.
const DPOP_PROOF_CHALLENGE: &str = r#"DPoP error="invalid_dpop_proof", algs="ES256 EdDSA""#;
const DPOP_TOKEN_CHALLENGE: &str = r#"DPoP error="invalid_token", algs="ES256 EdDSA""#;

/// What a refused DPoP proof is told (no secret: the rule it broke).
pub fn proof_message(e: keygate_core::dpop::ProofError) -> &'static str {
    use keygate_core::dpop::ProofError as P;
    match e {
        P::Malformed => "the DPoP proof is not a well-formed JWT",
        P::Type => "the DPoP proof's typ must be dpop+jwt",
        P::Algorithm => "the DPoP proof's alg must be ES256 or EdDSA with a matching public jwk",
        P::Signature => "the DPoP proof's signature does not verify under its jwk",
        P::Method => "the DPoP proof's htm is not the request's method",
        P::Uri => "the DPoP proof's htu is not the request's URI",
        P::Time => "the DPoP proof's iat is not within 60 seconds of now",
        P::TokenHash => "the DPoP proof's ath is not the hash of the access token",
        P::Key => "the DPoP proof is not made with the key the token is bound to",
        P::Replayed => "the DPoP proof was used before: make a new one for every request",
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::Internal(format!("{e:#}"))
    }
}

impl ApiError {
    pub fn validation(source: &str, message: impl Into<String>) -> ApiError {
        ApiError::Validation {
            source: source.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn parts(self) -> (StatusCode, ErrorBody) {
        let body = |code, message: &str| ErrorBody {
            code,
            message: message.to_owned(),
            source: None,
            trace_id: None,
        };
        match self {
            ApiError::Validation { source, message } => (
                StatusCode::BAD_REQUEST,
                ErrorBody {
                    // A name taken from the request (a JSON key, a query
                    // parameter) is never echoed at any length.
                    source: Some(clip(&source).to_owned()),
                    ..body("validation_error", &message)
                },
            ),
            ApiError::InvalidJson(m) => (StatusCode::BAD_REQUEST, body("invalid_json", &m)),
            ApiError::BadRequest(code, m) => (StatusCode::BAD_REQUEST, body(code, &m)),
            ApiError::Unauthorized | ApiError::BadToken => (
                StatusCode::UNAUTHORIZED,
                body("unauthorized", "the credentials are missing or not valid"),
            ),
            ApiError::DpopRefused {
                proof: true,
                message,
            } => (
                StatusCode::UNAUTHORIZED,
                body("invalid_dpop_proof", message),
            ),
            ApiError::DpopRefused { proof: false, .. } => (
                StatusCode::UNAUTHORIZED,
                body("unauthorized", "the credentials are missing or not valid"),
            ),
            ApiError::BadDpopProof(m) => (StatusCode::BAD_REQUEST, body("invalid_dpop_proof", m)),
            ApiError::PasswordConfirmationFailed => (
                StatusCode::UNAUTHORIZED,
                ErrorBody {
                    source: Some("password".into()),
                    ..body(
                        "password_confirmation_failed",
                        "enter your current login password to confirm this action",
                    )
                },
            ),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, body("forbidden", m)),
            ApiError::TwoFactorRequired => (
                StatusCode::FORBIDDEN,
                body(
                    "two_factor_required",
                    "this organization requires two-factor sign-in: turn it on with POST /dev/v1/me/two-factor, or, if it is on, sign in again with a code (this session was made with the password alone)",
                ),
            ),
            ApiError::SsoRequired => (
                StatusCode::FORBIDDEN,
                body(
                    "sso_required",
                    "your organization signs you in through its identity provider: open /app/sso/start?email=YOUR_EMAIL in a browser",
                ),
            ),
            ApiError::LoginAsNotAllowed => (
                StatusCode::FORBIDDEN,
                ErrorBody {
                    source: Some("x-login-as".into()),
                    ..body(
                        "login_as_not_allowed",
                        "this key cannot log in as that account",
                    )
                },
            ),
            ApiError::OrgSuspended => (
                StatusCode::FORBIDDEN,
                body(
                    "org_suspended",
                    "this key's organization is suspended; its members can sign in to see why",
                ),
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, body("not_found", "no such object")),
            ApiError::NoRoute(m) => (StatusCode::NOT_FOUND, body("not_found", &m)),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                body(
                    "method_not_allowed",
                    "this path does not accept that method",
                ),
            ),
            ApiError::UnsupportedMethod { source } => (
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorBody {
                    source: source.map(str::to_owned),
                    ..body(
                        "method_not_allowed",
                        "only GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS are accepted",
                    )
                },
            ),
            ApiError::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                body(
                    "headers_too_large",
                    "the request headers are larger than 32 KiB in total, or more than 100",
                ),
            ),
            ApiError::UriTooLong => (
                StatusCode::URI_TOO_LONG,
                body("uri_too_long", "the request URI is longer than 8 KiB"),
            ),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, body("conflict", &m)),
            ApiError::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                body(
                    "request_timeout",
                    "the request body did not arrive in time; the connection is closed",
                ),
            ),
            ApiError::InvalidBody => (
                StatusCode::BAD_REQUEST,
                body(
                    "invalid_body",
                    "the request body could not be read (broken framing)",
                ),
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                body(
                    "payload_too_large",
                    "the request body is larger than 64 KiB",
                ),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorBody {
                    source: Some("content-type".into()),
                    ..body(
                        "unsupported_media_type",
                        "send the body as JSON with `Content-Type: application/json`",
                    )
                },
            ),
            ApiError::TooManyAttempts { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                body("too_many_requests", "too many failed attempts; retry later"),
            ),
            ApiError::RateLimited(s) => (
                StatusCode::TOO_MANY_REQUESTS,
                body(
                    "too_many_requests",
                    &format!(
                        "this key's rate limit of {} requests per {} s is used up; retry after {} s",
                        s.limit.requests, s.limit.per_seconds, s.retry_after_secs
                    ),
                ),
            ),
            ApiError::QuotaExceeded { period, status } => (
                StatusCode::TOO_MANY_REQUESTS,
                body(
                    "quota_exceeded",
                    &format!(
                        "this organization's quota of {} requests per UTC {} is used up; retry after {} s",
                        status.limit.requests,
                        period.as_str(),
                        status.retry_after_secs
                    ),
                ),
            ),
            ApiError::CreditsExhausted { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                body(
                    "credits_exhausted",
                    &match retry_after_secs {
                        Some(s) => {
                            format!("this key's credits are used up; they are refilled in {s} s")
                        }
                        None => "this key's credits are used up".to_owned(),
                    },
                ),
            ),
            ApiError::BadGateway(m) => (StatusCode::BAD_GATEWAY, body("bad_gateway", m)),
            ApiError::GatewayTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                body("gateway_timeout", "the upstream did not answer in time"),
            ),
            ApiError::Busy { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                body("unavailable", "the server is busy; retry shortly"),
            ),
            ApiError::Unavailable(detail) => {
                let trace_id = crate::state::request_id::trace_id();
                tracing::warn!(%trace_id, %detail, "service unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorBody {
                        trace_id: Some(trace_id),
                        ..body("unavailable", "the service is unavailable; retry shortly")
                    },
                )
            }
            ApiError::StaleCache => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorBody {
                    trace_id: Some(crate::state::request_id::trace_id()),
                    ..body("unavailable", "the service is unavailable; retry shortly")
                },
            ),
            ApiError::Internal(detail) => {
                let trace_id = crate::state::request_id::trace_id();
                tracing::error!(%trace_id, %detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorBody {
                        trace_id: Some(trace_id),
                        ..body("internal_error", "internal error")
                    },
                )
            }
        }
    }
}

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
        h.insert(axum::http::HeaderName::from_static("ratelimit-policy"), p);
        h.insert(axum::http::HeaderName::from_static("ratelimit"), v);
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
        h.insert(axum::http::HeaderName::from_static("ratelimit-policy"), p);
        h.insert(axum::http::HeaderName::from_static("ratelimit"), v);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
