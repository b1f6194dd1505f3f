//! The hot path: trading a key for a token (here), and checking a token
//! against a request (`check.rs`). Both read only the in-memory cache, once
//! it is known to be fresh (`fresh.rs`).

use std::net::IpAddr;

use keygate_core::crypto::random_base62;
use keygate_core::permission::narrow_scope;
use keygate_core::token::{Claims, Confirmation, ISSUER};
use keygate_core::{AccountId, ApiKey, ClientId, login_target};
use std::sync::Arc;

use crate::state::cache::Credential;

use crate::service::{Error, dpop};
use crate::state::app::App;
use crate::state::audit::Actor;
use crate::state::clock::now_ms;

mod check;
mod fresh;
#[cfg(test)]
mod tests;

pub use check::{Allowed, Denied, DpopRefusal, Identity, Presented, authenticate, check};
use fresh::fresh;
pub use fresh::stale_cache;

/// Whether the credential cache may answer now (see `fresh.rs`).
pub(crate) async fn fresh_cache(app: &App) -> bool {
    fresh(app).await
}

pub struct LoginRequest<'a> {
    pub client_id: Option<&'a str>,
    pub api_key: Option<&'a str>,
    pub login_as: Option<&'a str>,
    pub ip: &'a str,
    pub user_agent: Option<&'a str>,
    /// OAuth `scope`: less than the key allows (`POST /oauth/token`).
    pub scope: Option<&'a str>,
    /// A `DPoP` proof of this request, and the request it must name.
    pub dpop: Option<IssueProof<'a>>,
}

/// A DPoP proof sent to get a token: checked once the key is (a proof is no
/// credential), then the token is bound to its key.
#[derive(Clone, Copy)]
pub struct IssueProof<'a> {
    pub proof: &'a str,
    pub method: &'a str,
    pub path: &'a str,
}

pub struct Issued {
    pub token: String,
    pub expires_at_ms: i64,
    /// The token's `scope` words.
    pub scope: String,
    /// Bound to a DPoP key (`token_type` DPoP).
    pub bound: bool,
}

/// `POST /api/v1/authentication/login`. Every way of failing the credential
/// check ends in the same `Unauthorized`.
pub async fn login(app: &App, req: &LoginRequest<'_>) -> Result<Issued, Error> {
    // Check, then count the failure: unlike passwords (which reserve an attempt
    // before argon2, see `ratelimit`), the key check is an in-memory HMAC of
    // microseconds, so the gap is tiny, and reserving would add a second lock
    // and a map write to every successful login on the hot path.
    let attempts = &app.attempts;
    // Formatted only when needed: a failure to count, or failures to check.
    let client_key = || format!("{}|{}", req.client_id.unwrap_or(""), req.ip);
    if let Err(retry_after_secs) = attempts.login_ip.check(req.ip).and_then(|()| {
        if attempts.login_client.tracking() {
            attempts.login_client.check(&client_key())
        } else {
            Ok(())
        }
    }) {
        return Err(Error::TooManyAttempts { retry_after_secs });
    }
    if !fresh(app).await {
        return Err(stale_cache());
    }
    if let (Some(c), Some(k)) = (req.client_id, req.api_key) {
        learn_key(app, c, k).await?;
    }
    let now = now_ms();
    // The current secret, or during a grace period the previous one (its
    // tokens carry the previous generation); an expired key matches neither.
    let credential = (|| {
        let client_id = req.client_id?;
        let key = ApiKey::parse(req.api_key?).ok()?;
        let cred = app.cache.key(client_id)?;
        let digest = app.pepper.digest(key.expose().as_bytes());
        let client_id = ClientId::parse(client_id).ok()?;
        let generation = if digest.ct_eq(&cred.secret_hash) {
            cred.generation
        } else if cred
            .previous
            .as_deref()
            .is_some_and(|p| digest.ct_eq(&p.secret_hash))
        {
            cred.generation.checked_sub(1)?
        } else {
            return None;
        };
        let good_until = cred.generation_good_until(generation, now)?;
        Some((client_id, cred, generation, good_until))
    })();
    let Some((client_id, cred, generation, good_until)) = credential else {
        attempts.login_ip.fail(req.ip);
        attempts.login_client.fail(&client_key());
        record_failed_login(app, req, "login.failed");
        return Err(Error::Unauthorized);
    };
    // The right key from outside its allowlist: the same answer as a wrong
    // key (nothing tells the caller the key is good), its own audit event.
    if let Some(networks) = &cred.allowed_networks
        && !req.ip.parse::<IpAddr>().is_ok_and(|ip| networks.allows(ip))
    {
        attempts.login_ip.fail(req.ip);
        attempts.login_client.fail(&client_key());
        record_failed_login(app, req, "login.network_refused");
        return Err(Error::Unauthorized);
    }
    grant(
        app,
        req,
        Granted {
            client_id,
            cred,
            generation,
            good_until,
        },
    )
    .await
}

/// A key whose credential held (its secret, or a federated identity), with
/// the generation its token carries and until when that generation is good.
pub(crate) struct Granted {
    pub client_id: ClientId,
    pub cred: Arc<Credential>,
    pub generation: u64,
    pub good_until: i64,
}

/// The token of a key whose credential held: the organization's suspension,
/// DPoP, the login target, the scope, then the signature.
pub(crate) async fn grant(app: &App, req: &LoginRequest<'_>, g: Granted) -> Result<Issued, Error> {
    let Granted {
        client_id,
        cred,
        generation,
        good_until,
    } = g;
    let now = now_ms();
    // The right key of a suspended organization (a flag in memory).
    if app.cache.is_suspended(&cred.org_id) {
        return Err(Error::OrgSuspended);
    }
    // A key that takes only bound tokens; a proof is checked only for a good
    // key, so it is no oracle for guessing one.
    let cnf = match req.dpop {
        Some(p) => Some(Confirmation {
            jkt: dpop::issue_proof(app, p.proof, p.method, p.path).await?,
        }),
        None if cred.require_dpop => return Err(Error::DpopRequired),
        None => None,
    };
    if let Some(a) = req.login_as.and_then(|s| AccountId::parse(s).ok()) {
        learn_account(app, &a).await?;
    }
    let target = login_target(&cred.scope, req.login_as, |a| {
        app.cache.account_in_org(a, &cred.org_id)
    })
    .map_err(|_| Error::LoginAsNotAllowed)?;
    let granted = cred.scope.scope_string(&app.catalog, &target);
    let (scope, narrowed) = match req.scope {
        Some(asked) => match narrow_scope(&granted, asked) {
            Some(s) => (s, true),
            None => return Err(Error::InvalidScope),
        },
        None => (granted, false),
    };
    let iat = now / 1000;
    // A token never outlives its key's expiry or its secret's grace period.
    let exp = (iat + app.settings.token_ttl_secs).min(good_until / 1000);
    let claims = Claims {
        iss: ISSUER.to_owned(),
        sub: client_id,
        org_id: (*cred.org_id).clone(),
        account_id: target.account().cloned(),
        r#gen: generation,
        scope,
        iat,
        exp,
        jti: random_base62(16),
        narrowed,
        cnf,
    };
    let token = app.signing_keys().sign(&claims);
    app.usage
        .used(&claims.sub, &claims.org_id, req.ip.parse().ok());
    let bound = claims.cnf.is_some();
    Ok(Issued {
        token,
        expires_at_ms: exp * 1000,
        scope: claims.scope,
        bound,
    })
}

/// With several instances, a key created through another instance may reach
/// this one's cache a few milliseconds after its creator already uses it: on a
/// miss, read that one key. Only for a well-formed key (checksum and all), at
/// most once a second per client id, and every miss still counts against the
/// failed-login limits checked before, so anonymous guessing costs the
/// database at most one read per allowed failure.
async fn learn_key(app: &App, client_id: &str, api_key: &str) -> Result<(), Error> {
    if !app.cache.is_shared()
        || app.cache.key(client_id).is_some()
        || ApiKey::parse(api_key).is_err()
        || !app.cache.may_reread(client_id)
    {
        return Ok(());
    }
    let Ok(client_id) = client_id.parse::<keygate_core::ClientId>() else {
        return Ok(());
    };
    app.cache.refresh(app.store.as_ref(), &client_id).await?;
    Ok(())
}

/// Accounts created by another process (`keygate org create`, another
/// instance) reach the cache on first use. Only asked after a valid key, so
/// this database read is not open to anonymous callers.
async fn learn_account(app: &App, account: &AccountId) -> Result<(), Error> {
    if app.cache.account_org(account).is_none()
        && let Some(a) = app.store.account(account).await?
    {
        app.cache.add_account(a.account_id, a.org_id);
    }
    Ok(())
}

fn record_failed_login(app: &App, req: &LoginRequest<'_>, action: &str) {
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
        action,
        Some(&client_id),
        serde_json::json!({}),
    ));
}
