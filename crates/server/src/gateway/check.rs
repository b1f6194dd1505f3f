//! The one decision every gateway surface asks for: the bearer token of the
//! request checked against a method and path, and the caller's identity in
//! Keygate's own `x-keygate-*` headers.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::app::App;
use crate::gateway::request;
use crate::http::error::ApiError;
use crate::service::auth::{self, Denied, Identity};

pub const CLIENT_ID_HEADER: &str = "x-keygate-client-id";
pub const ORG_ID_HEADER: &str = "x-keygate-org-id";
pub const ACCOUNT_ID_HEADER: &str = "x-keygate-account-id";

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn denied(d: Denied) -> ApiError {
    match d {
        Denied::Unauthenticated => ApiError::BadToken,
        Denied::Unavailable => auth::stale_cache().into(),
        Denied::Forbidden => ApiError::Forbidden("the token's scope does not allow this request"),
        Denied::AmbiguousPath => request::invalid_path(),
    }
}

/// The token of the request checked against `method` and `path`, asked from
/// `ip` (the client's address). An allowed request is counted in the usage
/// recorder here, last: a check added before this point that refuses must
/// count its refusal with `app.usage.refused(claims, Reason::…)` instead.
pub async fn check(
    app: &App,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    ip: &str,
) -> Result<Identity, ApiError> {
    let token = bearer(headers).ok_or(ApiError::BadToken)?;
    let identity = auth::check(app, token, method, path, ip)
        .await
        .map_err(denied)?;
    app.usage.allowed(&identity.claims);
    Ok(identity)
}

pub fn identity_headers(id: &Identity, h: &mut HeaderMap) {
    let mut set = |name: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set(CLIENT_ID_HEADER, id.client_id());
    set(ORG_ID_HEADER, id.org_id().as_str());
    if let Some(a) = id.account_id() {
        set(ACCOUNT_ID_HEADER, a.as_str());
    }
}
