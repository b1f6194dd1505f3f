//! Each `ApiError`'s status and body: API.md's table, variant by variant.

use axum::http::StatusCode;
use keygate_core::text::clip;

use super::{ApiError, ErrorBody};

impl ApiError {
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
