//! What the key actions share: the key terms as sent (expiry, allowlist, a
//! rate-limit change) and their checks, a new secret, the cache refresh after
//! every change, and the reads of a key of the organization.

use keygate_core::credits::Credits;
use keygate_core::federation::{FederationRule, FederationRules};
use keygate_core::time::{format_rfc3339, parse_rfc3339};
use keygate_core::{ApiKey, ClientId, Networks, OrgId, RateLimit};
use keygate_store::{KeyKind, KeyRecord, StoreError};

use crate::service::Error;
use crate::state::app::App;

/// Key fields of the key lifecycle that a create, duplicate, edit or
/// regenerate may set, as the client sent them (checked here).
#[derive(Debug, Default, Clone)]
pub struct KeyTerms {
    /// The network allowlist (CIDRs or addresses). `None`: keep the key's
    /// (edit, regenerate; duplicate copies the original's), or anywhere
    /// (create). An empty list: anywhere.
    pub allowed_networks: Option<Vec<String>>,
    /// The expiry (RFC 3339) of a new key: an admin key's on generate, a
    /// duplicate's (the original's is not copied). `None`: never. A scoped
    /// key's create, edit and a regenerate carry theirs in `ScopeInput`,
    /// `KeyChanges` and `RotateOptions`.
    pub expires_at: Option<String>,
    /// Issue only DPoP-bound tokens (RFC 9449). `None`: no (create), the
    /// original's (duplicate).
    pub require_dpop: Option<bool>,
    /// A scoped key's credits as sent (`{"remaining", "refill"?}`): `None`
    /// none (create) or the original's (duplicate); `Some(None)` (null)
    /// none.
    pub credits: Option<Option<serde_json::Value>>,
    /// Outside OIDC tokens that may be exchanged for the key's tokens (RFC
    /// 8693). `None`: none (create), the original's (duplicate). An empty
    /// list: none.
    pub federation: Option<Vec<FederationRule>>,
}

impl KeyTerms {
    /// The credits sent, checked, set at `now`: `None` when none were sent
    /// (the caller's default), `Some(None)` for null.
    pub(super) fn credits(&self, now: i64) -> Result<Option<Option<Credits>>, Error> {
        parse_credits(self.credits.as_ref(), now)
    }

    pub(super) fn federation(&self, app: &App) -> Result<Option<FederationRules>, Error> {
        self.federation
            .as_deref()
            .map(|r| federation_rules(app, r))
            .transpose()
    }

    pub(super) fn networks(&self) -> Result<Option<Networks>, Error> {
        Ok(self
            .allowed_networks
            .as_ref()
            .map(|n| Networks::parse(n, "allowed_networks"))
            .transpose()?)
    }
}

/// Credits as sent (see [`KeyTerms::credits`]); a bad one is 400 naming
/// `credits` or its field.
pub(super) fn parse_credits(
    sent: Option<&Option<serde_json::Value>>,
    now: i64,
) -> Result<Option<Option<Credits>>, Error> {
    Ok(match sent {
        None => None,
        Some(None) | Some(Some(serde_json::Value::Null)) => Some(None),
        Some(Some(v)) => Some(Some(Credits::parse(v, "credits", now)?)),
    })
}

/// Credits as the audit log and the API show them.
pub fn credits_json(c: Option<&Credits>, remaining: Option<i64>) -> serde_json::Value {
    match c {
        None => serde_json::Value::Null,
        Some(c) => serde_json::json!({
            "remaining": remaining.unwrap_or(c.remaining),
            "refill": c.refill.map(|r| serde_json::json!({"amount": r.amount, "period": r.period.as_str()})),
        }),
    }
}

/// Federation rules as sent, checked (https issuers unless
/// `--allow-insecure-issuers`).
pub(super) fn federation_rules(
    app: &App,
    rules: &[FederationRule],
) -> Result<FederationRules, Error> {
    Ok(FederationRules::parse(
        rules,
        "federation",
        app.settings.allow_insecure_issuers,
    )?)
}

/// Adds the allowlist to an audit event's details when there is one.
pub(super) fn with_networks(mut details: serde_json::Value, n: &Networks) -> serde_json::Value {
    if !n.is_empty() {
        details["allowed_networks"] = n.to_strings().into();
    }
    details
}

/// A key with its secret, for the one response that shows it.
pub struct Revealed {
    pub key: KeyRecord,
    pub api_key: ApiKey,
}

pub(super) fn new_secret(app: &App) -> (ApiKey, keygate_core::crypto::Digest) {
    let key = ApiKey::generate(&app.settings.key_env);
    let digest = app.pepper.digest(key.expose().as_bytes());
    (key, digest)
}

/// An `expires_at` as sent (RFC 3339), checked: well formed and in the future.
pub(super) fn parse_expiry(text: &str, now: i64) -> Result<i64, Error> {
    let at = parse_rfc3339(text.trim()).ok_or_else(|| {
        Error::invalid(
            "expires_at",
            "must be an RFC 3339 date-time with a time zone, e.g. 2026-05-12T00:00:00Z",
        )
    })?;
    if at <= now {
        return Err(Error::invalid("expires_at", "must be in the future"));
    }
    Ok(at)
}

/// A change of expiry as sent: `None` keeps, `Some(None)` clears, `Some(Some(t))`
/// sets. Returns the expiry the key will have.
pub(super) fn new_expiry(
    change: Option<Option<&str>>,
    current: Option<i64>,
    now: i64,
) -> Result<Option<i64>, Error> {
    match change {
        None => Ok(current),
        Some(None) => Ok(None),
        Some(Some(t)) => parse_expiry(t, now).map(Some),
    }
}

pub(super) fn rfc3339(ms: Option<i64>) -> serde_json::Value {
    ms.map_or(serde_json::Value::Null, |t| format_rfc3339(t).into())
}

/// Puts the database's version of a key into the cache. If the database cannot
/// be read right after a change, the key is dropped from the cache instead
/// (fail closed): a stale entry could keep an old secret working.
pub(crate) async fn refresh(app: &App, client_id: &ClientId) {
    // Every key change queued notifications in its transaction.
    app.dispatcher.wake();
    if let Err(e) = app.cache.refresh(app.store.as_ref(), client_id).await {
        tracing::error!(error = %e, %client_id, "cache refresh failed; key dropped from cache");
        app.cache.forget(client_id);
    }
}

/// What an edit does to a key's rate limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LimitChange {
    /// Leave it as it is.
    #[default]
    Keep,
    /// No limit of its own (the organization's default applies, if any).
    Clear,
    Set(RateLimit),
}

impl LimitChange {
    pub fn apply(self, before: Option<RateLimit>) -> Option<RateLimit> {
        match self {
            LimitChange::Keep => before,
            LimitChange::Clear => None,
            LimitChange::Set(l) => Some(l),
        }
    }
}

/// The organization's admin and scoped keys.
pub async fn list(app: &App, org_id: &OrgId) -> Result<Vec<KeyRecord>, Error> {
    Ok(app.store.keys(org_id).await?)
}

/// A key of this organization of either kind, or not found (also for other
/// organizations' keys).
pub async fn find(app: &App, org_id: &OrgId, client_id: &ClientId) -> Result<KeyRecord, Error> {
    app.store
        .key(org_id, client_id)
        .await?
        .ok_or(Error::NotFound)
}

/// A key of this organization and kind, or not found (also for other
/// organizations' keys).
pub async fn get(
    app: &App,
    org_id: &OrgId,
    client_id: &ClientId,
    kind: KeyKind,
) -> Result<KeyRecord, Error> {
    match app.store.key(org_id, client_id).await {
        Ok(Some(k)) if k.kind == kind => Ok(k),
        Ok(_) | Err(StoreError::NotFound) => Err(Error::NotFound),
        Err(e) => Err(e.into()),
    }
}
