//! The one decision every gateway surface asks for: the bearer token of the
//! request checked against a method and path (and counted against its key's
//! rate limit), and the caller's identity in Keygate's own `x-keygate-*`
//! headers.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::gateway::request;
use crate::http::error::{ApiError, rate_limit_headers};
use crate::middleware::access::bearer;
use crate::service::tokens::{self, Allowed, Denied, Identity};
use crate::state::app::App;
use crate::state::rate_limits::RateLimitStatus;
use crate::state::usage::Reason;

pub const CLIENT_ID_HEADER: &str = "x-keygate-client-id";
pub const ORG_ID_HEADER: &str = "x-keygate-org-id";
pub const ACCOUNT_ID_HEADER: &str = "x-keygate-account-id";

fn denied(app: &App, d: Denied) -> ApiError {
    match d {
        Denied::Unauthenticated => ApiError::BadToken,
        Denied::Unavailable => tokens::stale_cache().into(),
        Denied::Forbidden => ApiError::Forbidden("the token's scope does not allow this request"),
        Denied::AmbiguousPath => request::invalid_path(),
        Denied::RateLimited {
            client_id,
            org_id,
            status,
        } => {
            refused_for_rate_limit(app, &client_id, &org_id, &status);
            ApiError::RateLimited(status)
        }
        Denied::QuotaExceeded {
            client_id,
            org_id,
            period,
            status,
        } => {
            refused_for_rate_limit(app, &client_id, &org_id, &status);
            ApiError::QuotaExceeded { period, status }
        }
        Denied::Suspended => ApiError::OrgSuspended,
        Denied::Network => {
            ApiError::Forbidden("the token's key may not be used from this network address")
        }
    }
}

/// The one place where a token check is refused for its key's rate limit
/// (gateway and every forward-auth endpoint): counted in usage as
/// `Reason::RateLimit` (and not as allowed); so is a refusal for the
/// organization's quota. Metrics hook in here too.
fn refused_for_rate_limit(
    app: &App,
    client_id: &keygate_core::ClientId,
    org_id: &keygate_core::OrgId,
    status: &RateLimitStatus,
) {
    app.usage.refused_key(client_id, org_id, Reason::RateLimit);
    tracing::debug!(%client_id, retry_after = status.retry_after_secs, "over its rate limit");
}

/// The token of the request checked against `method` and `path`, asked from
/// `ip` (the client's address, `access::client_addr`: keys may have a network
/// allowlist). An allowed request is counted in the usage recorder by
/// `tokens::check`, last, after the scope and the rate limit passed: a check
/// added after it that refuses would have to take that count back.
pub async fn check(
    app: &App,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    ip: Option<IpAddr>,
) -> Result<Allowed, ApiError> {
    let token = bearer(headers).ok_or(ApiError::BadToken)?;
    tokens::check(app, token, method, path, ip)
        .await
        .map_err(|d| denied(app, d))
}

/// The caller's identity, and where their key stands against its rate limit.
pub fn allowed_headers(allowed: &Allowed, h: &mut HeaderMap) {
    identity_headers(&allowed.identity, h);
    if let Some(s) = &allowed.limit {
        rate_limit_headers(s, h);
    }
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
