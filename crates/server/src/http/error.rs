//! The one error type at the HTTP edge, mapped to API.md's table.
//!
//! Internal errors log their detail with a trace id and answer only the id: no
//! database message, secret or stack ever reaches a response body.
//!
//! This file holds what an error is and where it comes from: `ApiError`, the
//! body every error answers with (`ErrorBody`), and the conversions into
//! `ApiError`, among them the one from `service::Error`. Its parts:
//! `status.rs`, each error's status and body; `response.rs`, the answer it
//! makes (`IntoResponse`, with `WWW-Authenticate`, `Retry-After`, `Allow` and
//! the rate-limit headers); `headers.rs`, the RateLimit header fields, which
//! allowed token checks carry too.

use keygate_core::text::Invalid;
use keygate_store::StoreError;
use serde::Serialize;

use crate::middleware::headers::Repeated;
use crate::service;
use crate::state::rate_limits::RateLimitStatus;

mod headers;
mod response;
mod status;

pub use headers::{quota_headers, rate_limit_headers};

/// Room for every header of a hot-path answer (identity, rate limit, the
/// common layers' security headers and request id), reserved at once: one
/// allocation, where growing as they come was three.
pub const ANSWER_HEADERS: usize = 16;

/// An answer whose JSON body is already written (into a buffer of its size,
/// on the hot path: the login's and introspection's answers).
pub fn json_bytes(status: axum::http::StatusCode, body: Vec<u8>) -> axum::response::Response {
    let mut resp = axum::response::Response::new(axum::body::Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.reserve(ANSWER_HEADERS);
    h.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    resp
}

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
}
