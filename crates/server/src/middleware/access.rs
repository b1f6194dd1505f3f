//! Who is calling: the client's address, the signed-in user, and their role in
//! the organization named by the path.
//!
//! The JSON API and the Developer app both use these extractors; each surface
//! says where its session token comes from and how a refusal is shown
//! ([`Surface`]): the API reads `Authorization: Bearer` and answers JSON, the
//! app reads its cookie and answers with pages. Types such as
//! `OrgMember<KeyManager, S>` make it impossible to reach a handler without
//! the check.

use std::marker::PhantomData;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use keygate_core::crypto::{Digest, sha256};
use keygate_core::text::quote;
use keygate_core::{OrgId, Role, SessionFactors, SessionId};
use keygate_store::UserRecord;

use crate::service::{Acting, Error, Need, account};
use crate::state::app::{App, AppState};
use crate::state::audit::Actor;

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

/// The client's address: the socket's peer, or, when the peer is a
/// `--trusted-proxy`, the client it forwards for ([`forwarded_client`]).
/// `Ok(None)` only without a socket (in-process calls). A trusted proxy's
/// `X-Forwarded-For` that cannot be read is refused (400 `validation_error`,
/// `source: "x-forwarded-for"`), never replaced by the proxy's own address.
/// The one place that decides it: sign-in records and limits, login limits,
/// network allowlists, the gateway, forward-auth, introspection, the audit
/// log and last use all ask here.
pub fn client_addr(parts: &Parts, app: &App) -> Result<Option<IpAddr>, BadForwardedFor> {
    let Some(peer) = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
    else {
        return Ok(None);
    };
    let trusted = &app.settings.trusted_proxies;
    if !trusted.contains(&peer) {
        return Ok(Some(peer));
    }
    Ok(Some(
        forwarded_client(&parts.headers, trusted)?.unwrap_or(peer),
    ))
}

/// A trusted proxy's `X-Forwarded-For` that names no address where Keygate
/// must read one: the client's address is unknown, and the request refused.
#[derive(Debug, Clone)]
pub struct BadForwardedFor(String);

impl BadForwardedFor {
    fn entry(raw: &str) -> BadForwardedFor {
        let raw = raw.trim_matches([' ', '\t']);
        BadForwardedFor(if raw.is_empty() {
            "an empty entry".to_owned()
        } else {
            quote(raw)
        })
    }
}

impl From<BadForwardedFor> for Error {
    fn from(e: BadForwardedFor) -> Error {
        Error::Invalid {
            field: "x-forwarded-for".to_owned(),
            message: format!(
                "the X-Forwarded-For header from the trusted proxy has {} where a plain IP \
                 address must be (no port, no name such as \"unknown\"): the client's address \
                 cannot be decided; the proxy must set the header to the address it was \
                 connected from",
                e.0
            ),
        }
    }
}

/// Just the client's address ([`client_addr`]), for the gateway's hot path,
/// which needs no user agent. Extracting it never fails: the gateway counts
/// a refusal of the address with its other refusals (`ClientAddr::ip`).
#[derive(Debug, Clone)]
pub struct ClientAddr(Result<Option<IpAddr>, BadForwardedFor>);

impl ClientAddr {
    /// The address, or the refusal of a request whose address cannot be
    /// decided.
    pub fn ip(&self) -> Result<Option<IpAddr>, Error> {
        match &self.0 {
            Ok(ip) => Ok(*ip),
            Err(e) => Err(e.clone().into()),
        }
    }
}

impl<S> FromRequestParts<S> for ClientAddr
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(parts, &AppState::from_ref(state))))
    }
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

/// The header trusted proxies name the client in. `Forwarded` (RFC 7239) is
/// not read: a proxy that sets one header and passes the client's copy of the
/// other through would let the client choose its address, and every proxy
/// Keygate ships an example for sets `X-Forwarded-For`.
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The client behind trusted proxies. Each proxy appends the address it was
/// connected from, so the chain is walked from the right (several headers
/// are one list, in order): trusted proxies are skipped and the first other
/// entry is the client; entries further left are whatever the client claimed
/// and are not read. When every entry is a trusted proxy, the leftmost is the
/// client. An entry walked that is not a plain address (a port, `unknown`,
/// an obfuscated name, empty, not text) is an error, never skipped. No
/// header: `None` (the proxy is the client). No allocation unless refused.
fn forwarded_client(
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> Result<Option<IpAddr>, BadForwardedFor> {
    let mut leftmost = None;
    for value in headers.get_all(X_FORWARDED_FOR).iter().rev() {
        let text = value
            .to_str()
            .map_err(|_| BadForwardedFor("a value that is not plain text".to_owned()))?;
        for entry in text.rsplit(',') {
            let ip = plain_ip(entry).ok_or_else(|| BadForwardedFor::entry(entry))?;
            if !trusted.contains(&ip) {
                return Ok(Some(ip));
            }
            leftmost = Some(ip);
        }
    }
    Ok(leftmost)
}

/// One `X-Forwarded-For` entry: an IPv4 or IPv6 address, optional spaces
/// around it, IPv6 optionally in brackets. An IPv4-mapped IPv6 address is
/// its IPv4 address.
fn plain_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim_matches([' ', '\t']);
    let ip = match entry.strip_prefix('[') {
        Some(v6) => IpAddr::V6(v6.strip_suffix(']')?.parse::<Ipv6Addr>().ok()?),
        None => entry.parse().ok()?,
    };
    Some(ip.to_canonical())
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

#[cfg(test)]
mod forwarded_tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, v.parse().unwrap());
        }
        h
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn client(values: &[&str], trusted: &[&str]) -> Result<Option<IpAddr>, String> {
        forwarded_client(&headers(values), &ips(trusted)).map_err(|e| e.0)
    }

    fn ip(s: &str) -> Result<Option<IpAddr>, String> {
        Ok(Some(s.parse().unwrap()))
    }

    #[test]
    fn the_client_is_the_first_untrusted_entry_from_the_right() {
        let lbs = ["10.0.0.2", "10.0.0.3", "10.0.0.4"];
        // The client's own claims on the left are never read.
        assert_eq!(
            client(&["203.0.113.9, 198.51.100.7, 10.0.0.3, 10.0.0.4"], &lbs),
            ip("198.51.100.7")
        );
        // Several headers are one list, in order.
        assert_eq!(
            client(&["203.0.113.9, 198.51.100.7", "10.0.0.3", "10.0.0.2"], &lbs),
            ip("198.51.100.7")
        );
        assert_eq!(
            client(&["10.0.0.3", "198.51.100.7"], &lbs),
            ip("198.51.100.7")
        );
        // Every entry a trusted proxy: the leftmost is the client.
        assert_eq!(
            client(&["10.0.0.4, 10.0.0.3", "10.0.0.2"], &lbs),
            ip("10.0.0.4")
        );
        // No header: none named, the peer is the client.
        assert_eq!(client(&[], &lbs), Ok(None));
        // What the client put left of the client entry is not read.
        assert_eq!(client(&["unknown, 198.51.100.7"], &lbs), ip("198.51.100.7"));
        assert_eq!(client(&["x", "198.51.100.7"], &lbs), ip("198.51.100.7"));
    }

    #[test]
    fn spaces_ipv6_brackets_and_mapped_addresses_are_read() {
        let lb = ["10.0.0.2"];
        assert_eq!(
            client(&[" \t198.51.100.7 ,10.0.0.2\t"], &lb),
            ip("198.51.100.7")
        );
        assert_eq!(client(&["2001:db8::7, 10.0.0.2"], &lb), ip("2001:db8::7"));
        assert_eq!(client(&["[2001:db8::7]"], &lb), ip("2001:db8::7"));
        assert_eq!(client(&["::ffff:198.51.100.7"], &lb), ip("198.51.100.7"));
        // A trusted proxy written in its mapped form is still the proxy.
        assert_eq!(
            client(&["198.51.100.7, ::ffff:10.0.0.2"], &lb),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn an_entry_that_is_not_a_plain_address_is_refused_never_skipped() {
        let lb = ["10.0.0.2"];
        for bad in [
            "x",
            "unknown",
            "_hidden",
            "1.2.3.4:80",
            "[2001:db8::7]:443",
            "2001:db8::7]",
            "[198.51.100.7]",
            "fe80::1%eth0",
            "",
            " ",
            "198.51.100.7,",
            "198.51.100.7,,10.0.0.2",
            "198.51.100.7 10.0.0.2",
            "1.2.3",
            "01.2.3.4",
            "for=198.51.100.7",
            "\"198.51.100.7\"",
        ] {
            assert!(client(&[bad], &lb).is_err(), "{bad:?}");
            assert!(
                client(&[bad, "10.0.0.2"], &lb).is_err(),
                "{bad:?} before a proxy"
            );
        }
        assert!(
            client(&["198.51.100.7", ""], &lb).is_err(),
            "an empty header"
        );
        let mut h = HeaderMap::new();
        h.append(
            X_FORWARDED_FOR,
            axum::http::HeaderValue::from_bytes(b"198.51.100.\xff").unwrap(),
        );
        assert!(forwarded_client(&h, &ips(&lb)).is_err(), "not text");
        // The message names the entry, so an operator sees what the proxy sent.
        let e = client(&["1.2.3.4:80"], &lb).unwrap_err();
        assert_eq!(e, "\"1.2.3.4:80\"");
        assert_eq!(client(&[" "], &lb).unwrap_err(), "an empty entry");
    }
}
