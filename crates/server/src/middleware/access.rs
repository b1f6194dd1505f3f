//! Who is calling: the client's address (decided in `client_addr.rs`,
//! re-exported here), the signed-in user, and their role in the organization
//! named by the path.
//!
//! The JSON API and the Developer app both use these extractors; each surface
//! says where its session token comes from and how a refusal is shown
//! ([`Surface`]): the API reads `Authorization: Bearer` and answers JSON, the
//! app reads its cookie and answers with pages. Types such as
//! `OrgMember<KeyManager, S>` make it impossible to reach a handler without
//! the check.

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use keygate_core::crypto::{Digest, sha256};
use keygate_core::{OrgId, Role, SessionFactors, SessionId};
use keygate_store::UserRecord;

use crate::service::{Acting, Error, Need, account};
use crate::state::app::{App, AppState};
use crate::state::audit::Actor;

pub use crate::middleware::client_addr::{ClientAddr, client_addr};

/// A surface that signs people in: where its session token is, and how it
/// shows a refusal.
pub trait Surface: Send + Sync + 'static {
    type Rejection: From<Error> + IntoResponse;
    fn session_token(parts: &Parts, app: &App) -> Option<String>;
}

/// Source address and user agent of the request.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: Option<String>,
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any
/// case): the JSON API's sessions, the gateway's access tokens and GitLab's
/// revocation calls all come this way.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl ClientInfo {
    /// The client's address ([`client_addr`]; refused when a trusted proxy's
    /// `X-Forwarded-For` cannot be read) and user agent.
    pub fn of(parts: &Parts, app: &App) -> Result<ClientInfo, Error> {
        let ip = client_addr(parts, app)?
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        Ok(ClientInfo { ip, user_agent })
    }

    /// The actor of an action taken before anyone is signed in.
    pub fn anonymous(&self) -> Actor {
        Actor {
            ip: Some(self.ip.clone()),
            user_agent: self.user_agent.clone(),
            ..Actor::default()
        }
    }
}

/// The router state of a surface that signs people in names that surface, so
/// that [`ClientInfo`], which needs no session, still refuses the way the
/// surface does (JSON on the API, a page in the app).
pub trait SurfaceState {
    type Surface: Surface;
}

impl<St> FromRequestParts<St> for ClientInfo
where
    St: SurfaceState + Send + Sync,
    AppState: FromRef<St>,
{
    type Rejection = <St::Surface as Surface>::Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        Ok(ClientInfo::of(parts, &AppState::from_ref(state))?)
    }
}

/// The signed-in user of surface `S`.
#[derive(Debug)]
pub struct CurrentUser<S> {
    pub user: UserRecord,
    pub session_hash: Digest,
    /// The public id of this session.
    pub session_id: SessionId,
    /// How this session was made (what an organization's two-factor policy
    /// asks of it).
    pub factors: SessionFactors,
    pub client: ClientInfo,
    surface: PhantomData<S>,
}

impl<S> Clone for CurrentUser<S> {
    fn clone(&self) -> Self {
        CurrentUser {
            user: self.user.clone(),
            session_hash: self.session_hash,
            session_id: self.session_id.clone(),
            factors: self.factors,
            client: self.client.clone(),
            surface: PhantomData,
        }
    }
}

impl<S> CurrentUser<S> {
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user.user_id.clone()),
            email: Some(self.user.email.clone()),
            ip: Some(self.client.ip.clone()),
            user_agent: self.client.user_agent.clone(),
        }
    }
}

/// Session tokens are 47 characters; anything much longer is not one and is
/// not worth hashing.
const MAX_TOKEN_LEN: usize = 200;

impl<St, S> FromRequestParts<St> for CurrentUser<S>
where
    St: Send + Sync,
    AppState: FromRef<St>,
    S: Surface,
{
    type Rejection = S::Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, S::Rejection> {
        let app = AppState::from_ref(state);
        let client = ClientInfo::of(parts, &app)?;
        let token = S::session_token(parts, &app)
            .filter(|t| t.len() <= MAX_TOKEN_LEN)
            .ok_or(Error::Unauthorized)?;
        let session_hash = sha256(token.as_bytes());
        let (user, session) = account::session_user(&app, &session_hash)
            .await?
            .ok_or(Error::Unauthorized)?;
        Ok(CurrentUser {
            user,
            session_hash,
            session_id: session.session_id,
            factors: session.factors,
            client,
            surface: PhantomData,
        })
    }
}

/// A role requirement, checked by `OrgMember<R, S>`.
pub trait RoleRule: Send + Sync + 'static {
    /// `None`: every member may.
    const NEED: Option<Need>;
}

/// Owner, admin or developer: the Developer app's roles.
pub struct KeyManager;
impl RoleRule for KeyManager {
    const NEED: Option<Need> = Some(Need::KeyManager);
}

/// Owner or admin.
pub struct OrgManager;
impl RoleRule for OrgManager {
    const NEED: Option<Need> = Some(Need::OrgManager);
}

/// The organization's owner.
pub struct Owner;
impl RoleRule for Owner {
    const NEED: Option<Need> = Some(Need::Owner);
}

/// Any member.
pub struct AnyMember;
impl RoleRule for AnyMember {
    const NEED: Option<Need> = None;
}

/// A member of the organization named by the `{org_id}` path segment, with a
/// role `R` allows. Not a member (or no such org) → not found, like any object
/// of another organization; a member without the role → forbidden.
pub struct OrgMember<R, S> {
    pub current: CurrentUser<S>,
    pub org_id: OrgId,
    pub role: Role,
    rule: PhantomData<R>,
}

impl<R, S> OrgMember<R, S> {
    pub fn actor(&self) -> Actor {
        self.current.actor()
    }

    /// The member as the services take it.
    pub fn acting(&self) -> Acting {
        Acting {
            user: self.current.user.clone(),
            org_id: self.org_id.clone(),
            role: self.role,
            actor: self.actor(),
        }
    }
}

impl<St, R, S> FromRequestParts<St> for OrgMember<R, S>
where
    St: Send + Sync,
    AppState: FromRef<St>,
    R: RoleRule,
    S: Surface,
{
    type Rejection = S::Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, S::Rejection> {
        let current = CurrentUser::<S>::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::NotFound)?;
        let org_id = params
            .iter()
            .find(|(k, _)| *k == "org_id")
            .and_then(|(_, v)| OrgId::parse(v).ok())
            .ok_or(Error::NotFound)?;
        let app = AppState::from_ref(state);
        let role = app
            .store
            .role(&org_id, &current.user.user_id)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound)?;
        if let Some(need) = R::NEED
            && !need.allows(role)
        {
            return Err(Error::Forbidden(need).into());
        }
        crate::service::two_factor::check_policy(
            &app,
            &org_id,
            &current.user.user_id,
            current.factors,
        )
        .await?;
        Ok(OrgMember {
            current,
            org_id,
            role,
            rule: PhantomData,
        })
    }
}
