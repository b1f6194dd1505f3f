//! Extractors that make it impossible to reach a handler without its check:
//! `CurrentUser` (a valid session), `OrgMember<R>` (a member of the path's
//! organization whose role satisfies `R`), `JsonBody<T>` (64 KiB, strict JSON)
//! and `ClientInfo` (source IP and user agent for the audit log).

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::header;
use axum::http::request::Parts;
use bytes::Bytes;
use keygate_core::crypto::{Digest, sha256};
use keygate_core::text::{clip, quote};
use keygate_core::{OrgId, Role};
use keygate_store::UserRecord;
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::service::audit::Actor;
use crate::service::now_ms;

/// Source address and user agent of the request.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let trusted = &app.settings.trusted_proxies;
        let ip = match peer {
            Some(p) if trusted.contains(&p) => forwarded_client(&parts.headers, trusted)
                .unwrap_or(p)
                .to_string(),
            Some(p) => p.to_string(),
            None => String::new(),
        };
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        Ok(ClientInfo { ip, user_agent })
    }
}

/// The client behind trusted proxies: the rightmost `X-Forwarded-For` entry
/// that is not itself a trusted proxy. Entries further left are whatever the
/// client claimed and are not believed. A malformed header is ignored whole.
fn forwarded_client(headers: &axum::http::HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let mut chain = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        for part in value.to_str().ok()?.split(',') {
            chain.push(part.trim().parse::<IpAddr>().ok()?);
        }
    }
    chain
        .iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .or(chain.first())
        .copied()
}

pub const SESSION_COOKIE: &str = "keygate_session";

/// The signed-in user, from `Authorization: Bearer <session token>` or the
/// Developer app's cookie.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: UserRecord,
    pub session_hash: Digest,
    pub client: ClientInfo,
}

impl CurrentUser {
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user.user_id.clone()),
            email: Some(self.user.email.clone()),
            ip: Some(self.client.ip.clone()),
            user_agent: self.client.user_agent.clone(),
        }
    }
}

pub fn session_token(parts: &Parts) -> Option<String> {
    if let Some(auth) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return auth.strip_prefix("Bearer ").map(|t| t.trim().to_owned());
    }
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE || *k == format!("__Host-{SESSION_COOKIE}"))
        .map(|(_, v)| v.to_owned())
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let token = session_token(parts).ok_or(ApiError::Unauthorized)?;
        if token.len() > 200 {
            return Err(ApiError::Unauthorized);
        }
        let session_hash = sha256(token.as_bytes());
        let user = app
            .store
            .session_user(&session_hash, now_ms())
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let client = ClientInfo::from_request_parts(parts, app).await?;
        Ok(CurrentUser {
            user,
            session_hash,
            client,
        })
    }
}

/// A role requirement, checked by `OrgMember<R>`.
pub trait RoleRule: Send + Sync + 'static {
    fn allows(role: Role) -> bool;
    const DENIED: &'static str;
}

/// Owner, admin or developer: the Developer app's roles.
pub struct KeyManager;
impl RoleRule for KeyManager {
    fn allows(role: Role) -> bool {
        role.can_manage_keys()
    }
    const DENIED: &'static str = "you need the Owner, Admin or Developer role";
}

/// Owner or admin.
pub struct OrgManager;
impl RoleRule for OrgManager {
    fn allows(role: Role) -> bool {
        role.can_manage_org()
    }
    const DENIED: &'static str = "you need the Owner or Admin role";
}

/// Any member.
pub struct AnyMember;
impl RoleRule for AnyMember {
    fn allows(_: Role) -> bool {
        true
    }
    const DENIED: &'static str = "";
}

/// A member of the organization named by the `{org_id}` path segment, with a
/// role `R` allows. Not a member (or no such org) → 404, like any object of
/// another organization; a member without the role → 403.
pub struct OrgMember<R> {
    pub current: CurrentUser,
    pub org_id: OrgId,
    pub role: Role,
    _rule: PhantomData<R>,
}

impl<R> OrgMember<R> {
    pub fn actor(&self) -> Actor {
        self.current.actor()
    }
}

impl<R: RoleRule> FromRequestParts<AppState> for OrgMember<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let current = CurrentUser::from_request_parts(parts, app).await?;
        let params = RawPathParams::from_request_parts(parts, app)
            .await
            .map_err(|_| ApiError::NotFound)?;
        let org_id = params
            .iter()
            .find(|(k, _)| *k == "org_id")
            .and_then(|(_, v)| OrgId::parse(v).ok())
            .ok_or(ApiError::NotFound)?;
        let role = app
            .store
            .role(&org_id, &current.user.user_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        if !R::allows(role) {
            return Err(ApiError::Forbidden(R::DENIED));
        }
        Ok(OrgMember {
            current,
            org_id,
            role,
            _rule: PhantomData,
        })
    }
}

/// Largest request body the management API reads.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON body: at most 64 KiB (413), syntactically JSON (400 `invalid_json`),
/// and of the expected shape with no unknown fields (400 `validation_error`).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidJson("the request body could not be read".into())
            }
        })?;
        let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        parse_json(bytes).map(JsonBody)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
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
                    None => ApiError::validation(
                        "body",
                        format!(
                            "a field has the wrong type or value (line {}, column {})",
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

#[cfg(test)]
mod forwarded_tests {
    use super::*;

    fn headers(values: &[&str]) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_rightmost_address_no_trusted_proxy_added() {
        let lb: IpAddr = "10.0.0.2".parse().unwrap();
        let h = headers(&["203.0.113.9, 198.51.100.7", "10.0.0.2"]);
        assert_eq!(forwarded_client(&h, &[lb]), "198.51.100.7".parse().ok());
        assert_eq!(forwarded_client(&headers(&["not an ip"]), &[lb]), None);
        assert_eq!(forwarded_client(&headers(&[]), &[lb]), None);
    }
}
