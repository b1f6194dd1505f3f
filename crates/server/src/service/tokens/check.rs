//! Checking a token against a request: its signature (once, then cached),
//! its key now, DPoP, the scope, the key's rate limit, the plan's quotas and
//! the key's credits.

use std::net::IpAddr;
use std::sync::Arc;

use keygate_core::catalog::CheckedPath;
use keygate_core::crypto::sha256;
use keygate_core::dpop::ProofError;
use keygate_core::permission::scope_allows;
use keygate_core::quota::{Period, Plan};
use keygate_core::token::Claims;
use keygate_core::{Access, AccountId, ClientId, OrgId};

use crate::service::dpop;
use crate::state::app::App;
use crate::state::cache::VerifiedClaims;
use crate::state::clock::now_ms;
use crate::state::rate_limits::RateLimitStatus;
use crate::state::usage::Reason;

use super::fresh::fresh;

/// Who a valid token speaks for. Its claims are as cached: `jti` is empty,
/// and so is `scope` unless the token was narrowed (see `verified_claims`);
/// beside them, the values of its identity headers.
#[derive(Debug, Clone)]
pub struct Identity {
    pub claims: Arc<VerifiedClaims>,
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
    /// A valid token whose key has no credits left: 429
    /// `credits_exhausted`, until the refill (Unix ms) if there is one.
    CreditsExhausted {
        client_id: ClientId,
        org_id: OrgId,
        refills_at: Option<i64>,
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
    key: Option<(Arc<VerifiedClaims>, Reason)>,
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
    claims: Arc<VerifiedClaims>,
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
fn verified_claims(app: &App, token: &str) -> Result<Arc<VerifiedClaims>, Denied> {
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
            // holds up to 100,000 reused tokens; these were a third of each
            // entry. A narrowed token keeps its scope: every check reads it.
            if !c.narrowed {
                c.scope = String::new();
            }
            c.jti = String::new();
            let c = Arc::new(VerifiedClaims::new(c));
            app.cache.verified_tokens().verified(digest, &c);
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
    path: CheckedPath<'_>,
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
            dpop::use_proof(app, proof, method, path.as_str(), token, &cnf.jkt)
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
    path: CheckedPath<'_>,
) -> Result<Option<RateLimitStatus>, Denied> {
    let resource = app.catalog.resolve_checked(path).ok_or(Denied::Forbidden)?;
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
        let plan = app.cache.plan_of(&cred.org_id);
        if let Some(plan) = &plan {
            take_quotas(app, identity, plan, status.is_some(), now)?;
        }
        if let Some(credits) = &cred.credits
            && let Err(refills_at) = app.credits.take(&claims.sub, credits, now)
        {
            // A refused call uses nothing: the quotas and the limit get
            // back what this check counted.
            for q in plan.iter().flat_map(|p| p.quotas.iter()) {
                app.rate_limits.give_back_quota(identity.org_id(), q.period);
            }
            if status.is_some() {
                app.rate_limits.give_back(identity.client_id());
            }
            return Err(Denied::CreditsExhausted {
                client_id: claims.sub.clone(),
                org_id: claims.org_id.clone(),
                refills_at,
            });
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
