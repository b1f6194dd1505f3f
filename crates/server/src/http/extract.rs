//! The JSON API's extractors: who is calling (the shared ones of `access`,
//! with the session token taken only from `Authorization: Bearer` and
//! refusals answered as JSON) and `JsonBody<T>` (declared JSON, 64 KiB, strict).

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use bytes::Bytes;
use keygate_core::text::{clip, quote};
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;
use crate::middleware::access;
use crate::middleware::body_deadline;
use crate::middleware::headers;
use crate::state::app::App;

pub use crate::middleware::access::{AnyMember, ClientInfo, KeyManager, OrgManager, Owner};

/// The management API: sessions come as `Authorization: Bearer`, never as the
/// Developer app's cookie, so a page of another site cannot use a browser's
/// session against it.
pub struct Api;

impl access::Surface for Api {
    type Rejection = ApiError;

    fn session_token(parts: &Parts, _: &App) -> Option<String> {
        access::bearer(&parts.headers).map(str::to_owned)
    }
}

/// The JSON API's router state: its routes refuse as JSON.
impl access::SurfaceState for crate::state::app::AppState {
    type Surface = Api;
}

pub type CurrentUser = access::CurrentUser<Api>;
pub type OrgMember<R> = access::OrgMember<R, Api>;

/// Largest request body the management API reads.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON body: declared `application/json` (415), at most 64 KiB (413),
/// read in time (408) and well framed (400 `invalid_body`),
/// syntactically JSON (400 `invalid_json`), and of the expected shape with no
/// unknown fields (400 `validation_error`). No body and no `Content-Type` at
/// all reads as `{}`.
///
/// The media type matters: a page of another origin can send `text/plain`
/// (or a form type) without a CORS preflight, never `application/json`.
pub struct JsonBody<T>(pub T);

/// `Some(true)` for `application/json` (parameters such as `charset` allowed),
/// `Some(false)` for any other type, `None` when the header is absent; two
/// `Content-Type` headers are refused (400), never read as the first one.
fn declares_json(headers: &HeaderMap) -> Result<Option<bool>, ApiError> {
    let Some(value) = headers::one(headers, &headers::CONTENT_TYPE)? else {
        return Ok(None);
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    Ok(Some(essence.is_some_and(|e| {
        e.eq_ignore_ascii_case("application/json")
    })))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let declared = declares_json(req.headers())?;
        if declared == Some(false) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(unread_body)?;
        if declared.is_none() && !bytes.is_empty() {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        parse_json(bytes).map(JsonBody)
    }
}

/// Why a body could not be read: over 64 KiB (413), too slow (408,
/// `body_deadline`), or broken framing such as a bad chunk (400 `invalid_body`).
pub fn unread_body(e: BytesRejection) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else if body_deadline::timed_out(&e) {
        ApiError::RequestTimeout
    } else {
        ApiError::InvalidBody
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde_path_to_error says where in the body a value was refused, so the
    // answer can name the field without quoting its value.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| (e.path().to_string(), e.into_inner()))
        .and_then(|v| de.end().map(|()| v).map_err(|e| (String::new(), e)));
    parsed.map_err(|(path, e)| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => {
                // serde's messages can quote the offending value; keep only
                // the kind of problem, never the value (it may be a password).
                let text = e.to_string();
                let field = text
                    .split('`')
                    .nth(1)
                    .filter(|_| {
                        text.starts_with("unknown field") || text.starts_with("missing field")
                    })
                    .map(str::to_owned);
                match field {
                    Some(f) if text.starts_with("unknown field") => {
                        ApiError::validation(clip(&f), format!("unknown field {}", quote(&f)))
                    }
                    Some(f) => ApiError::validation(&f, format!("missing field `{f}`")),
                    None if path.is_empty() || path == "." => ApiError::validation(
                        "body",
                        format!(
                            "a field has the wrong type or value (line {}, column {})",
                            e.line(),
                            e.column()
                        ),
                    ),
                    None => ApiError::validation(
                        clip(&path),
                        format!(
                            "field {} has the wrong type or value (line {}, column {})",
                            quote(&path),
                            e.line(),
                            e.column()
                        ),
                    ),
                }
            }
            _ => ApiError::InvalidJson(format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            )),
        }
    })
}

/// The operator behind an `/operator/v1` request: `Authorization: Bearer
/// kgop_…`, read from the database on every request (a revoked token is
/// refused at once on every instance). Anything else is 401 `unauthorized`.
pub struct OperatorCaller(pub crate::service::operator::Operator);

impl axum::extract::FromRequestParts<crate::state::app::AppState> for OperatorCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &crate::state::app::AppState,
    ) -> Result<Self, Self::Rejection> {
        headers::one(&parts.headers, &headers::AUTHORIZATION)?;
        let client = ClientInfo::of(parts, app)?;
        let token = access::bearer(&parts.headers).ok_or(ApiError::Unauthorized)?;
        let op = crate::service::operator::authenticate(app, token, client.anonymous()).await?;
        Ok(OperatorCaller(op))
    }
}
