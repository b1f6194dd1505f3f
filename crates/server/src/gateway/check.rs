//! The one decision every gateway surface asks for: the bearer token of the
//! request checked against a method and path (and counted against its key's
//! rate limit), and the caller's identity in Keygate's own `x-keygate-*`
//! headers.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderName};
use keygate_core::catalog::CheckedPath;

use crate::http::error::{ApiError, proof_message, rate_limit_headers};
use crate::service::tokens::{self, Allowed, Denied, DpopRefusal, Identity, Presented};
use crate::state::app::App;
use crate::state::rate_limits::RateLimitStatus;
use crate::state::usage::Reason;

pub const CLIENT_ID_HEADER: &str = "x-keygate-client-id";
pub const ORG_ID_HEADER: &str = "x-keygate-org-id";
pub const ACCOUNT_ID_HEADER: &str = "x-keygate-account-id";
/// The thumbprint of the key a DPoP-bound token is bound to (RFC 9449 §6).
pub const DPOP_JKT_HEADER: &str = "x-keygate-dpop-jkt";

fn denied(app: &App, d: Denied) -> ApiError {
    match d {
        Denied::Unauthenticated => ApiError::BadToken,
        Denied::Unavailable => tokens::stale_cache().into(),
        Denied::Forbidden => ApiError::Forbidden("the token's scope does not allow this request"),
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
        Denied::CreditsExhausted {
            client_id,
            org_id,
            refills_at,
        } => {
            app.usage
                .refused_key(&client_id, &org_id, Reason::RateLimit);
            let now = crate::state::clock::now_ms();
            ApiError::CreditsExhausted {
                retry_after_secs: refills_at
                    .map(|t| u64::try_from((t - now + 999) / 1000).unwrap_or(1).max(1)),
            }
        }
        Denied::Suspended => ApiError::OrgSuspended,
        Denied::Network => {
            ApiError::Forbidden("the token's key may not be used from this network address")
        }
        Denied::Dpop(DpopRefusal::Token) => ApiError::DpopRefused {
            proof: false,
            message: "",
        },
        Denied::Dpop(DpopRefusal::Proof(e)) => ApiError::DpopRefused {
            proof: true,
            message: e.map_or(
                "a DPoP-bound token needs a DPoP proof of this request in the DPoP header",
                proof_message,
            ),
        },
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
    path: CheckedPath<'_>,
    ip: Option<IpAddr>,
) -> Result<Allowed, ApiError> {
    let presented = presented(headers)?;
    tokens::check(app, presented, method, path, ip)
        .await
        .map_err(|d| denied(app, d))
}

/// The token as the request presents it: `Authorization: Bearer <token>`, or
/// `Authorization: DPoP <token>` with its proof in the `DPoP` header (RFC
/// 9449 §7.1; a proof sent twice is refused, as either could be read).
fn presented(headers: &HeaderMap) -> Result<Presented<'_>, ApiError> {
    let refused = ApiError::BadToken;
    let v = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(refused)?;
    let (scheme, token) = v.split_once(' ').ok_or(ApiError::BadToken)?;
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Presented::Bearer(token));
    }
    if !scheme.eq_ignore_ascii_case("dpop") {
        return Err(ApiError::BadToken);
    }
    let proof = crate::middleware::headers::one(headers, &crate::middleware::headers::DPOP)
        .map_err(|_| ApiError::DpopRefused {
            proof: true,
            message: "send one DPoP header",
        })?
        .and_then(|v| v.to_str().ok());
    Ok(Presented::Dpop { token, proof })
}

/// The caller's identity, and where their key stands against its rate limit.
pub fn allowed_headers(allowed: &Allowed, h: &mut HeaderMap) {
    identity_headers(&allowed.identity, h);
    if let Some(s) = &allowed.limit {
        rate_limit_headers(s, h);
    }
}

pub fn identity_headers(id: &Identity, h: &mut HeaderMap) {
    // Names made at compile time: `HeaderName::from_static` called at run
    // time checks the name again on every request.
    const CLIENT_ID: HeaderName = HeaderName::from_static(CLIENT_ID_HEADER);
    const ORG_ID: HeaderName = HeaderName::from_static(ORG_ID_HEADER);
    const ACCOUNT_ID: HeaderName = HeaderName::from_static(ACCOUNT_ID_HEADER);
    const DPOP_JKT: HeaderName = HeaderName::from_static(DPOP_JKT_HEADER);
    // Values made once per token (`VerifiedClaims`): a clone shares them.
    let c = &id.claims.headers;
    for (name, value) in [
        (CLIENT_ID, &c.client_id),
        (ORG_ID, &c.org_id),
        (ACCOUNT_ID, &c.account_id),
        (DPOP_JKT, &c.dpop_jkt),
    ] {
        if let Some(v) = value {
            h.insert(name, v.clone());
        }
    }
}
