//! The hot path: trading a key for a token, and checking a token against a
//! request. Both read only the in-memory cache.

use std::sync::Arc;

use keygate_core::catalog::AmbiguousPath;
use keygate_core::crypto::{random_base62, sha256};
use keygate_core::token::{Claims, ISSUER};
use keygate_core::{Access, AccountId, ApiKey, ClientId, LoginTarget, OrgId, login_target};

use crate::app::App;
use crate::http::error::ApiError;
use crate::service::audit::Actor;
use crate::service::now_ms;

pub struct LoginRequest<'a> {
    pub client_id: Option<&'a str>,
    pub api_key: Option<&'a str>,
    pub login_as: Option<&'a str>,
    pub ip: &'a str,
    pub user_agent: Option<&'a str>,
}

pub struct Issued {
    pub token: String,
    pub expires_at_ms: i64,
}

/// `POST /api/v1/authentication/login`. Every way of failing the credential
/// check ends in the same `Unauthorized`.
pub async fn login(app: &App, req: &LoginRequest<'_>) -> Result<Issued, ApiError> {
    let limits = &app.limits;
    let client_key = format!("{}|{}", req.client_id.unwrap_or(""), req.ip);
    if let Err(retry_after_secs) = limits
        .login_ip
        .check(req.ip)
        .and(limits.login_client.check(&client_key))
    {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let credential = (|| {
        let client_id = req.client_id?;
        let key = ApiKey::parse(req.api_key?).ok()?;
        let cred = app.cache.key(client_id)?;
        let digest = app.pepper.digest(key.expose().as_bytes());
        let client_id = ClientId::parse(client_id).ok()?;
        digest.ct_eq(&cred.secret_hash).then_some((client_id, cred))
    })();
    let Some((client_id, cred)) = credential else {
        limits.login_ip.fail(req.ip);
        limits.login_client.fail(&client_key);
        record_failed_login(app, req);
        return Err(ApiError::Unauthorized);
    };
    if let Some(a) = req.login_as.and_then(|s| AccountId::parse(s).ok()) {
        learn_account(app, &a).await?;
    }
    let target = login_target(&cred.scope, req.login_as, |a| {
        app.cache.account_in_org(a, &cred.org_id)
    })
    .map_err(|_| ApiError::LoginAsNotAllowed)?;
    // The token check needs the target account in the cache (it may have been
    // created by `keygate org create` after this server started).
    if let LoginTarget::Account(a) = &target {
        learn_account(app, a).await?;
    }
    let now = now_ms();
    let iat = now / 1000;
    let exp = iat + app.settings.token_ttl_secs;
    let claims = Claims {
        iss: ISSUER.to_owned(),
        sub: client_id,
        org_id: (*cred.org_id).clone(),
        account_id: target.account().cloned(),
        r#gen: cred.generation,
        scope: cred.scope.scope_string(&app.catalog, &target),
        iat,
        exp,
        jti: random_base62(16),
    };
    Ok(Issued {
        token: app.tokens().sign(&claims),
        expires_at_ms: exp * 1000,
    })
}

/// Accounts created by another process (`keygate org create`, another
/// instance) reach the cache on first use. Only asked after a valid key, so
/// this database read is not open to anonymous callers.
async fn learn_account(app: &App, account: &AccountId) -> Result<(), ApiError> {
    if app.cache.account_org(account).is_none()
        && let Some(a) = app.store.account(account).await?
    {
        app.cache.add_account(a.account_id, a.org_id);
    }
    Ok(())
}

fn record_failed_login(app: &App, req: &LoginRequest<'_>) {
    // Only a client id that exists is recorded: an attacker's arbitrary
    // strings do not belong in anyone's audit log.
    let Some((client_id, cred)) = req
        .client_id
        .and_then(|c| Some((ClientId::parse(c).ok()?, app.cache.key(c)?)))
    else {
        return;
    };
    let actor = Actor {
        ip: Some(req.ip.to_owned()),
        user_agent: req.user_agent.map(str::to_owned),
        ..Actor::default()
    };
    app.audit.send(actor.event(
        Some(&*cred.org_id),
        "login.failed",
        Some(&client_id),
        serde_json::json!({}),
    ));
}

/// Who a valid token speaks for.
#[derive(Debug, Clone)]
pub struct Identity {
    pub claims: Arc<Claims>,
}

impl Identity {
    pub fn client_id(&self) -> &str {
        self.claims.sub.as_str()
    }
    pub fn org_id(&self) -> &OrgId {
        &self.claims.org_id
    }
    pub fn account_id(&self) -> Option<&AccountId> {
        self.claims.account_id.as_ref()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No valid token: 401.
    Unauthenticated,
    /// A valid token without the permission, or a path no resource covers: 403.
    Forbidden,
    /// A path that could be read two ways: 400.
    AmbiguousPath,
}

/// A token that is well signed, unexpired, and whose key still exists at the
/// generation it was issued for. Uses the key's *current* scope.
pub fn authenticate(
    app: &App,
    token: &str,
) -> Result<(Identity, Arc<crate::cache::Credential>), Denied> {
    let now = now_ms() / 1000;
    let digest = sha256(token.as_bytes());
    let claims = match app.cache.tokens().get(&digest) {
        Some(c) => c,
        None => {
            let c = Arc::new(
                app.tokens()
                    .verify(token, now)
                    .map_err(|_| Denied::Unauthenticated)?,
            );
            app.cache.tokens().insert(digest, c.clone());
            c
        }
    };
    if claims.exp <= now {
        return Err(Denied::Unauthenticated);
    }
    let cred = app
        .cache
        .key(claims.sub.as_str())
        .filter(|k| k.generation == claims.r#gen && *k.org_id == claims.org_id)
        .ok_or(Denied::Unauthenticated)?;
    Ok((Identity { claims }, cred))
}

/// The token check: may this bearer token make `method` on `path` now?
pub fn check(app: &App, token: &str, method: &str, path: &str) -> Result<Identity, Denied> {
    let (identity, cred) = authenticate(app, token)?;
    let resource = match app.catalog.resolve(path) {
        Ok(Some(r)) => r,
        Ok(None) => return Err(Denied::Forbidden),
        Err(AmbiguousPath) => return Err(Denied::AmbiguousPath),
    };
    let target = identity.claims.target();
    if let LoginTarget::Account(a) = &target
        && !cred.scope_reaches_account(app, a)
    {
        return Err(Denied::Forbidden);
    }
    if cred.scope.allows(
        &resource.name,
        resource.level,
        Access::for_method(method),
        &target,
    ) {
        Ok(identity)
    } else {
        Err(Denied::Forbidden)
    }
}

impl crate::cache::Credential {
    /// The token's account must still belong to the key's organization (keys
    /// scoped to all accounts name no account list to check against).
    fn scope_reaches_account(&self, app: &App, account: &AccountId) -> bool {
        app.cache.account_in_org(account, &self.org_id)
    }
}
