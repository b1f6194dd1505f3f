//! The hot path: trading a key for a token, and checking a token against a
//! request. Both read only the in-memory cache.

use std::net::IpAddr;
use std::sync::Arc;

use keygate_core::catalog::AmbiguousPath;
use keygate_core::crypto::{random_base62, sha256};
use keygate_core::dpop::ProofError;
use keygate_core::permission::{narrow_scope, scope_allows};
use keygate_core::quota::{Period, Plan};
use keygate_core::token::{Claims, Confirmation, ISSUER};
use keygate_core::{Access, AccountId, ApiKey, ClientId, OrgId, login_target};

use crate::service::{Error, dpop};
use crate::state::app::App;
use crate::state::audit::Actor;
use crate::state::clock::now_ms;
use crate::state::rate_limits::RateLimitStatus;
use crate::state::usage::Reason;

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
        } else if cred.previous.is_some_and(|p| digest.ct_eq(&p.secret_hash)) {
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

/// The credential cache could not be confirmed against the database for too
/// long (see `--cache-max-stale`), or its change feed is not known to be
/// current: refuse rather than trust what may be revoked. Logged once in a
/// while by [`fresh`], not per request.
pub fn stale_cache() -> Error {
    Error::StaleCache
}

/// Whether the cache may answer a login or token check now: re-read within
/// `--cache-max-stale`, and with other instances on the database, its change
/// feed confirmed current by a recent heartbeat. The normal case is two atomic
/// loads, no lock and no query. After a pause (or while the listener is lost)
/// the request waits briefly for the feed to catch up with the notices queued
/// meanwhile; if it does not, the request is refused.
async fn fresh(app: &App) -> bool {
    let now = now_ms();
    let feed = app.cache.feed();
    if !app.cache.is_valid(now) {
        feed.refused(now, "not re-read within --cache-max-stale");
        return false;
    }
    if feed.is_current(now) || feed.wait_current(now).await {
        return true;
    }
    feed.refused(now, "the change feed is not confirmed current");
    false
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

/// Who a valid token speaks for. Its claims are as cached: `jti` is empty,
/// and so is `scope` unless the token was narrowed (see `verified_claims`).
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No valid token: 401.
    Unauthenticated,
    /// A valid token without the permission, or a path no resource covers: 403.
    Forbidden,
    /// A path that could be read two ways: 400.
    AmbiguousPath,
    /// The credential cache may be stale and cannot be confirmed current: 503.
    Unavailable,
    /// A valid token whose key used up its rate limit for this window: 429.
    RateLimited {
        client_id: ClientId,
        org_id: OrgId,
        status: RateLimitStatus,
    },
    /// A valid token whose organization used up a quota of its plan for
    /// this UTC day or month: 429 `quota_exceeded`.
    QuotaExceeded {
        client_id: ClientId,
        org_id: OrgId,
        period: Period,
        status: RateLimitStatus,
    },
    /// A valid token used from outside its key's network allowlist: 403.
    Network,
    /// A valid token of a suspended organization's key: 403 `org_suspended`.
    Suspended,
    /// A DPoP-bound token without a good proof of this request by its key,
    /// or a token under the `DPoP` scheme that is not valid: 401 with a
    /// `WWW-Authenticate: DPoP` challenge.
    Dpop(DpopRefusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopRefusal {
    /// The proof (missing, malformed, stale, replayed, for another request).
    Proof(Option<ProofError>),
    /// The token itself (RFC 6750's `invalid_token`).
    Token,
}

/// How the request presented its token: `Authorization: Bearer`, or
/// `Authorization: DPoP` with the request's `DPoP` proof header (RFC 9449 §7).
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    Bearer(&'a str),
    Dpop {
        token: &'a str,
        proof: Option<&'a str>,
    },
}

impl<'a> Presented<'a> {
    pub fn token(&self) -> &'a str {
        match self {
            Presented::Bearer(t) | Presented::Dpop { token: t, .. } => t,
        }
    }
}

/// An allowed token check: who calls, and where their key stands against its
/// rate limit (if it has one).
#[derive(Debug, Clone)]
pub struct Allowed {
    pub identity: Identity,
    pub limit: Option<RateLimitStatus>,
}

/// A token that is well signed, unexpired, and whose key still exists, has not
/// expired, and is at the generation it was issued for (or the previous one
/// during its grace period). Uses the key's *current* scope.
///
/// With several instances, a token issued by another instance may name a key
/// or generation this cache has not heard of yet (notices take milliseconds):
/// then that one key is re-read, at most once a second per key. Only a token
/// with a valid signature gets that far.
pub async fn authenticate(
    app: &App,
    token: &str,
) -> Result<(Identity, Arc<crate::state::cache::Credential>), Denied> {
    authenticated(app, token).await.map_err(|r| r.denied)
}

/// A token refused by [`authenticated`]: why, and when its signature was good,
/// the key it names and the usage reason to count.
struct Refused {
    denied: Denied,
    key: Option<(Arc<Claims>, Reason)>,
}

impl From<Denied> for Refused {
    fn from(denied: Denied) -> Refused {
        Refused { denied, key: None }
    }
}

async fn authenticated(
    app: &App,
    token: &str,
) -> Result<(Identity, Arc<crate::state::cache::Credential>), Refused> {
    if !fresh(app).await {
        return Err(Denied::Unavailable.into());
    }
    let claims = verified_claims(app, token)?;
    if claims.exp <= now_ms() / 1000 {
        return Err(Refused {
            denied: Denied::Unauthenticated,
            key: Some((claims, Reason::Expired)),
        });
    }
    if let Some(cred) = current_key(app, &claims) {
        return usable(app, claims, cred);
    }
    let behind = app
        .cache
        .key(claims.sub.as_str())
        .is_none_or(|k| k.generation < claims.r#gen);
    if app.cache.is_shared() && behind && app.cache.may_reread(claims.sub.as_str()) {
        app.cache
            .refresh(app.store.as_ref(), &claims.sub)
            .await
            .map_err(|_| Denied::Unavailable)?;
    }
    match current_key(app, &claims) {
        Some(cred) => usable(app, claims, cred),
        // Well signed, but its key is gone, expired, or its secret was
        // replaced since.
        None => {
            let reason = refusal_reason(app, &claims);
            Err(Refused {
                denied: Denied::Unauthenticated,
                key: Some((claims, reason)),
            })
        }
    }
}

/// A current key's token, refused while its organization is suspended.
#[inline]
fn usable(
    app: &App,
    claims: Arc<Claims>,
    cred: Arc<crate::state::cache::Credential>,
) -> Result<(Identity, Arc<crate::state::cache::Credential>), Refused> {
    if app.cache.is_suspended(&cred.org_id) {
        return Err(Denied::Suspended.into());
    }
    Ok((Identity { claims }, cred))
}

/// Why the key of a well-signed token no longer takes it, for usage:
/// `Expired` when the key expired, or the token's secret is the previous one
/// and its grace period ended; `Revoked` when the key is gone or the token's
/// secret was regenerated away (without a grace period, two regenerations
/// back, or after the lifecycle sweeper cleared an ended grace).
fn refusal_reason(app: &App, claims: &Claims) -> Reason {
    match app.cache.key(claims.sub.as_str()) {
        Some(k) if *k.org_id == claims.org_id => {
            let graced = k.previous.is_some() && claims.r#gen.checked_add(1) == Some(k.generation);
            if !k.alive(now_ms()) || claims.r#gen == k.generation || graced {
                Reason::Expired
            } else {
                Reason::Revoked
            }
        }
        _ => Reason::Revoked,
    }
}

/// The signature, checked once per token and cached. Expiry is the caller's
/// to check, so that an expired token is still known by its key (for usage).
fn verified_claims(app: &App, token: &str) -> Result<Arc<Claims>, Denied> {
    let digest = sha256(token.as_bytes());
    let claims = match app.cache.verified_tokens().get(&digest) {
        Some(c) => c,
        None => {
            let mut c = app
                .signing_keys()
                .verify(token, i64::MIN)
                .map_err(|_| Denied::Unauthenticated)?;
            // Kept without what no check reads after the signature: the scope
            // (checks use the key's current one) and the `jti`. The cache
            // holds up to 100,000 tokens; these were a third of each entry.
            // A narrowed token keeps its scope: every check reads it.
            if !c.narrowed {
                c.scope = String::new();
            }
            c.jti = String::new();
            let c = Arc::new(c);
            app.cache.verified_tokens().insert(digest, c.clone());
            c
        }
    };
    Ok(claims)
}

/// The key of the token, if the token's secret generation is still good now:
/// the current one while the key has not expired, the previous one until the
/// end of its grace period.
fn current_key(app: &App, claims: &Claims) -> Option<Arc<crate::state::cache::Credential>> {
    let now = now_ms();
    app.cache.key(claims.sub.as_str()).filter(|k| {
        *k.org_id == claims.org_id && k.generation_good_until(claims.r#gen, now).is_some()
    })
}

/// The token check: may this bearer token make `method` on `path` now, asked
/// from `ip` (the client's address, `access::client_addr`)? Refuses a key's
/// token from outside its network allowlist. Records the key's last use and
/// counts the allowed request and the refusals it decides (network, scope,
/// expired, revoked) in the usage recorder. Only a request the scope allows
/// counts against the key's rate limit (its own, else its organization's
/// default), checked last; a rate-limit refusal is counted by the caller
/// (`gateway::check::refused_for_rate_limit`).
pub async fn check(
    app: &App,
    presented: Presented<'_>,
    method: &str,
    path: &str,
    ip: Option<IpAddr>,
) -> Result<Allowed, Denied> {
    let (identity, cred) = match authenticated(app, presented.token()).await {
        Ok(found) => found,
        Err(r) => {
            if let Some((claims, reason)) = &r.key {
                app.usage.refused(claims, *reason);
            }
            return Err(match (r.denied, presented) {
                (Denied::Unauthenticated, Presented::Dpop { .. }) => {
                    Denied::Dpop(DpopRefusal::Token)
                }
                (d, _) => d,
            });
        }
    };
    // A bearer token of an unbound key: one field check, nothing more.
    match (&identity.claims.cnf, presented) {
        (None, Presented::Bearer(_)) => {}
        // A bound token is worth nothing without its key: as Bearer it is refused.
        (Some(_), Presented::Bearer(_)) => return Err(Denied::Unauthenticated),
        (None, Presented::Dpop { .. }) => return Err(Denied::Dpop(DpopRefusal::Token)),
        (Some(cnf), Presented::Dpop { token, proof }) => {
            let proof = proof.ok_or(Denied::Dpop(DpopRefusal::Proof(None)))?;
            dpop::use_proof(app, proof, method, path, token, &cnf.jkt)
                .await
                .map_err(|e| Denied::Dpop(DpopRefusal::Proof(Some(e))))?;
        }
    }
    // The key's current allowlist (the cache follows edits at once), so a
    // token is refused from elsewhere even if it was issued before the edit.
    // A refused call is not the key's last use.
    if let Some(networks) = &cred.allowed_networks
        && !ip.is_some_and(|from| networks.allows(from))
    {
        app.usage.refused(&identity.claims, Reason::Network);
        return Err(Denied::Network);
    }
    // One recorder update either way: the last use (and the allowed call).
    match authorize(app, &identity, &cred, method, path) {
        Ok(limit) => {
            app.usage.allowed(&identity.claims, ip);
            Ok(Allowed { identity, limit })
        }
        Err(d) => {
            let claims = &identity.claims;
            app.usage.used(&claims.sub, &claims.org_id, ip);
            if d == Denied::Forbidden {
                app.usage.refused(claims, Reason::Scope);
            }
            Err(d)
        }
    }
}

/// The scope and the rate limit: where the key stands against its limit (if
/// it has one) when allowed.
fn authorize(
    app: &App,
    identity: &Identity,
    cred: &crate::state::cache::Credential,
    method: &str,
    path: &str,
) -> Result<Option<RateLimitStatus>, Denied> {
    let resource = match app.catalog.resolve(path) {
        Ok(Some(r)) => r,
        Ok(None) => return Err(Denied::Forbidden),
        Err(AmbiguousPath) => return Err(Denied::AmbiguousPath),
    };
    // The target account was checked against the key's organization at login,
    // and accounts never move between organizations. A narrowed token is held
    // to its own scope too (the key's current one still limits it).
    let needed = Access::for_method(method);
    let claims = &identity.claims;
    if cred.scope.allows_for(
        &resource.name,
        resource.level,
        needed,
        identity.account_id(),
    ) && (!claims.narrowed || scope_allows(&claims.scope, &resource.name, needed))
    {
        let now = now_ms();
        let status = match app.cache.limit_of(cred) {
            Some(limit) => match app.rate_limits.take(identity.client_id(), limit, now) {
                Ok(status) => Some(status),
                Err(status) => {
                    return Err(Denied::RateLimited {
                        client_id: identity.claims.sub.clone(),
                        org_id: identity.claims.org_id.clone(),
                        status,
                    });
                }
            },
            None => None,
        };
        if let Some(plan) = app.cache.plan_of(&cred.org_id) {
            take_quotas(app, identity, &plan, status.is_some(), now)?;
        }
        Ok(status)
    } else {
        Err(Denied::Forbidden)
    }
}

/// Counts one check against each quota of the organization's plan. A
/// refusal gives back what this check already counted (the key's limit, an
/// earlier quota): a refused call uses nothing.
fn take_quotas(
    app: &App,
    identity: &Identity,
    plan: &Plan,
    limited: bool,
    now: i64,
) -> Result<(), Denied> {
    let org_id = identity.org_id();
    for (i, q) in plan.quotas.iter().enumerate() {
        if let Err(status) = app.rate_limits.take_quota(org_id, *q, now) {
            for earlier in &plan.quotas[..i] {
                app.rate_limits.give_back_quota(org_id, earlier.period);
            }
            if limited {
                app.rate_limits.give_back(identity.client_id());
            }
            return Err(Denied::QuotaExceeded {
                client_id: identity.claims.sub.clone(),
                org_id: org_id.clone(),
                period: q.period,
                status,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use keygate_core::crypto::{Pepper, random_bytes};
    use keygate_core::permission::{Access, AccountSelection, Permission};
    use keygate_core::token::{TokenKey, TokenKeys};
    use keygate_store::{KeyKind, Store, sqlite::SqliteStore};

    use super::*;
    use crate::service::keys::{self, AccountPermissionsInput, KeyChanges, ScopeInput};
    use crate::service::{Acting, orgs};

    const PASSWORD: &str = "correct-horse-battery-staple";
    const LOCAL: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    async fn app() -> (Arc<App>, Acting, Vec<AccountId>, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("kg-unit-{}", random_base62(8)));
        std::fs::create_dir_all(&dir).unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&format!("sqlite://{}/t.db", dir.display()))
                .await
                .unwrap(),
        );
        let created = orgs::create_org(
            store.as_ref(),
            "Acme",
            "o@acme.test",
            orgs::Owner::New { password: PASSWORD },
            &["HK".into(), "UK".into()],
        )
        .await
        .unwrap();
        let args = <crate::state::config::ServeArgs as clap::FromArgMatches>::from_arg_matches(
            &<crate::state::config::ServeArgs as clap::Args>::augment_args(clap::Command::new("t"))
                .get_matches_from(["t"]),
        )
        .unwrap();
        let tokens = TokenKeys::new(vec![TokenKey::from_seed(random_bytes())]).unwrap();
        let app = App::new(
            store,
            args.settings().unwrap(),
            Pepper::new(b"pepper"),
            tokens,
        )
        .await
        .unwrap();
        let owner = app
            .store
            .user(&created.owner_user_id)
            .await
            .unwrap()
            .unwrap();
        let who = Acting {
            user: owner,
            org_id: created.org_id,
            role: keygate_core::Role::Owner,
            actor: crate::state::audit::Actor::default(),
        };
        let accounts = created.accounts.into_iter().map(|a| a.account_id).collect();
        (app, who, accounts, dir)
    }

    fn read(resource: &str) -> Permission {
        Permission {
            resource: resource.into(),
            access: Access::Read,
        }
    }

    #[tokio::test]
    async fn the_token_check_allows_refuses_and_follows_key_changes_at_once() {
        let (app, who, accounts, dir) = app().await;
        let password = Some(PASSWORD);
        let input = ScopeInput {
            org_permissions: vec![],
            account_permissions: Some(AccountPermissionsInput {
                accounts: AccountSelection::Some([accounts[0].clone()].into()),
                resources: vec![read("balances")],
            }),
            expires_at: None,
        };
        let r = keys::create_scoped(&app, &who, "k", &input, None, &Default::default(), password)
            .await
            .unwrap();
        let login = |key: String| {
            let app = app.clone();
            let id = r.key.client_id.to_string();
            async move {
                let req = LoginRequest {
                    client_id: Some(&id),
                    api_key: Some(&key),
                    login_as: None,
                    ip: "127.0.0.1",
                    user_agent: None,
                    scope: None,
                    dpop: None,
                };
                login(&app, &req).await.map(|i| i.token)
            }
        };
        let token = login(r.api_key.expose().to_owned()).await.unwrap();
        assert!(
            check(
                &app,
                Presented::Bearer(&token),
                "GET",
                "/api/v1/balances/current",
                LOCAL
            )
            .await
            .is_ok()
        );
        assert_eq!(
            check(
                &app,
                Presented::Bearer(&token),
                "POST",
                "/api/v1/balances/current",
                LOCAL
            )
            .await
            .err(),
            Some(Denied::Forbidden)
        );
        assert_eq!(
            check(
                &app,
                Presented::Bearer(&token),
                "GET",
                "/api/v1/nothing",
                LOCAL
            )
            .await
            .err(),
            Some(Denied::Forbidden)
        );
        assert_eq!(
            check(
                &app,
                Presented::Bearer(&token),
                "GET",
                "/api/v1/balances/../x",
                LOCAL
            )
            .await
            .err(),
            Some(Denied::AmbiguousPath)
        );
        assert_eq!(
            check(
                &app,
                Presented::Bearer("x.y.z"),
                "GET",
                "/api/v1/balances",
                LOCAL
            )
            .await
            .err(),
            Some(Denied::Unauthenticated)
        );

        // Edited to less: refused on the next check.
        let edited = KeyChanges {
            account_permissions: Some(AccountPermissionsInput {
                accounts: AccountSelection::Some([accounts[0].clone()].into()),
                resources: vec![read("payment_intents")],
            }),
            ..KeyChanges::default()
        };
        keys::update(&app, &who, &r.key.client_id, edited, password)
            .await
            .unwrap();
        assert_eq!(
            check(
                &app,
                Presented::Bearer(&token),
                "GET",
                "/api/v1/balances/current",
                LOCAL
            )
            .await
            .err(),
            Some(Denied::Forbidden)
        );
        assert!(
            check(
                &app,
                Presented::Bearer(&token),
                "GET",
                "/api/v1/pa/payment_intents/1",
                LOCAL
            )
            .await
            .is_ok()
        );

        // Regenerated: the old token and the old secret are dead, the new ones work.
        let rotate = keys::RotateOptions::default();
        let regen = keys::regenerate(
            &app,
            &who,
            &r.key.client_id,
            KeyKind::Scoped,
            &rotate,
            password,
        )
        .await
        .unwrap();
        assert_eq!(
            check(
                &app,
                Presented::Bearer(&token),
                "GET",
                "/api/v1/pa/payment_intents/1",
                LOCAL
            )
            .await
            .err(),
            Some(Denied::Unauthenticated)
        );
        assert!(login(r.api_key.expose().to_owned()).await.is_err());
        let fresh = login(regen.api_key.expose().to_owned()).await.unwrap();
        assert!(
            check(
                &app,
                Presented::Bearer(&fresh),
                "GET",
                "/api/v1/pa/payment_intents/1",
                LOCAL
            )
            .await
            .is_ok()
        );

        // Deleted: dead.
        keys::delete(&app, &who, &r.key.client_id, password)
            .await
            .unwrap();
        assert_eq!(
            check(
                &app,
                Presented::Bearer(&fresh),
                "GET",
                "/api/v1/pa/payment_intents/1",
                LOCAL
            )
            .await
            .err(),
            Some(Denied::Unauthenticated)
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
