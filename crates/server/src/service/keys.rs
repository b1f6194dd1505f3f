//! The key actions of the reference page: generate and regenerate admin keys;
//! create, regenerate, duplicate, edit and delete scoped keys.
//!
//! Each action is confirmed with the user's password, writes the key change and
//! its audit event in one transaction, then refreshes the credential cache so
//! the change bites on the very next login or token check.

use keygate_core::permission::{AccountPermissions, KeyScope, Permission};
use keygate_core::text::KeyName;
use keygate_core::time::{format_rfc3339, parse_rfc3339};
use keygate_core::{AccountId, ApiKey, ClientId, Networks, OrgId, RateLimit};
use keygate_store::{KeyEdit, KeyKind, KeyRecord, Rotation, StoreError, account_in};
use serde_json::json;

use crate::service::{Acting, Error, key_policy, passwords};
use crate::state::app::App;
use crate::state::clock::now_ms;

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
}

impl KeyTerms {
    fn networks(&self) -> Result<Option<Networks>, Error> {
        Ok(self
            .allowed_networks
            .as_ref()
            .map(|n| Networks::parse(n, "allowed_networks"))
            .transpose()?)
    }
}

/// Adds the allowlist to an audit event's details when there is one.
fn with_networks(mut details: serde_json::Value, n: &Networks) -> serde_json::Value {
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

fn new_secret(app: &App) -> (ApiKey, keygate_core::crypto::Digest) {
    let key = ApiKey::generate(&app.settings.key_env);
    let digest = app.pepper.digest(key.expose().as_bytes());
    (key, digest)
}

/// The longest grace period a regenerate may give the replaced secret: 7 days.
pub const MAX_GRACE_SECS: i64 = 7 * 86_400;

/// An `expires_at` as sent (RFC 3339), checked: well formed and in the future.
fn parse_expiry(text: &str, now: i64) -> Result<i64, Error> {
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
fn new_expiry(
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

fn rfc3339(ms: Option<i64>) -> serde_json::Value {
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

/// Generates the admin key of the organization (`owner_id` is its id) or of
/// one of its accounts.
pub async fn generate_admin(
    app: &App,
    who: &Acting,
    owner_id: &str,
    rate_limit: Option<RateLimit>,
    terms: &KeyTerms,
    password: Option<&str>,
) -> Result<Revealed, Error> {
    passwords::confirm(app, &who.user, password).await?;
    let (actor, org_id) = (&who.actor, &who.org_id);
    let allowed_networks = terms.networks()?.unwrap_or_default();
    let expires_at = new_expiry(Some(terms.expires_at.as_deref()), None, now_ms())?;
    key_policy::check(app, org_id, expires_at, &allowed_networks).await?;
    let (scope, name) = if owner_id == org_id.as_str() {
        (KeyScope::OrgAdmin, "Organization admin key".to_owned())
    } else {
        let accounts = app.store.accounts(org_id).await?;
        let account = AccountId::parse(owner_id)
            .ok()
            .and_then(|id| accounts.into_iter().find(|a| a.account_id == id))
            .ok_or_else(|| {
                Error::invalid(
                    "owner_id",
                    "must be this organization's id or one of its account ids",
                )
            })?;
        (
            KeyScope::AccountAdmin {
                account_id: account.account_id,
            },
            format!("Admin key for {}", account.name),
        )
    };
    let (api_key, secret_hash) = new_secret(app);
    let now = now_ms();
    let key = KeyRecord {
        client_id: ClientId::generate(),
        org_id: org_id.clone(),
        kind: KeyKind::Admin,
        owner_id: Some(owner_id.to_owned()),
        name,
        secret_hash,
        generation: 1,
        scope,
        rate_limit,
        expires_at,
        previous_secret: None,
        allowed_networks,
        created_at: now,
        updated_at: now,
        exposed_at: None,
    };
    let mut details = json!({"owner_id": owner_id, "name": key.name});
    if let Some(l) = rate_limit {
        details["rate_limit"] = json!(l);
    }
    let event = actor.event(
        Some(org_id),
        "admin_key.generated",
        Some(&key.client_id),
        with_networks(details, &key.allowed_networks),
    );
    app.store.insert_key(&key, &event).await?;
    refresh(app, &key.client_id).await;
    Ok(Revealed { key, api_key })
}

/// How a regenerate treats the replaced secret and the key's expiry.
#[derive(Default)]
pub struct RotateOptions {
    /// Seconds the replaced secret (and its tokens) keeps working: 0 (the
    /// default) to [`MAX_GRACE_SECS`]. Never beyond the key's expiry.
    pub previous_secret_expires_in: Option<i64>,
    /// The key's expiry from now on (RFC 3339): `None` keeps it, `Some(None)`
    /// clears it.
    pub expires_at: Option<Option<String>>,
    /// The network allowlist from now on: `None` keeps it, an empty list
    /// means anywhere.
    pub allowed_networks: Option<Vec<String>>,
    /// The key's own rate limit from now on (the JSON API keeps it; the
    /// app's admin-key Regenerate shows its fields), written with the new
    /// secret in one transaction.
    pub rate_limit: LimitChange,
}

/// Regenerates an admin or scoped key (`kind` is the route's): new secret,
/// same client id. Every token issued before stops working, at once or, with
/// a grace period, when the replaced secret dies; a grace period still
/// running for an older secret ends now (at most two secrets live).
/// `options.allowed_networks` may replace the allowlist (the way to change an
/// admin key's), `options.rate_limit` the key's own limit; the key as it will
/// be must meet the organization's key policy.
pub async fn regenerate(
    app: &App,
    who: &Acting,
    client_id: &ClientId,
    kind: KeyKind,
    options: &RotateOptions,
    password: Option<&str>,
) -> Result<Revealed, Error> {
    let (actor, org_id) = (&who.actor, &who.org_id);
    let existing = get(app, org_id, client_id, kind).await?;
    passwords::confirm(app, &who.user, password).await?;
    let now = now_ms();
    let grace = options.previous_secret_expires_in.unwrap_or(0);
    if !(0..=MAX_GRACE_SECS).contains(&grace) {
        return Err(Error::invalid(
            "previous_secret_expires_in",
            format!("must be a number of seconds from 0 to {MAX_GRACE_SECS} (7 days)"),
        ));
    }
    let expires_at = new_expiry(
        options.expires_at.as_ref().map(Option::as_deref),
        existing.expires_at,
        now,
    )?;
    let networks = options
        .allowed_networks
        .as_ref()
        .map(|n| Networks::parse(n, "allowed_networks"))
        .transpose()?;
    let after = networks.as_ref().unwrap_or(&existing.allowed_networks);
    key_policy::check(app, org_id, expires_at, after).await?;
    let rate_limit = options.rate_limit.apply(existing.rate_limit);
    // The grace never outlives the key.
    let previous_until =
        (grace > 0).then(|| (now + grace * 1000).min(expires_at.unwrap_or(i64::MAX)));
    let (api_key, secret_hash) = new_secret(app);
    let mut details = json!({
        "name": existing.name,
        "owner_id": existing.owner_id,
        "previous_secret_expires_at": format_rfc3339(previous_until.unwrap_or(now)),
        "expires_at": rfc3339(expires_at),
    });
    if existing.expires_at != expires_at {
        details["previous_expires_at"] = rfc3339(existing.expires_at);
    }
    if rate_limit != existing.rate_limit {
        details["rate_limit"] = json!({"before": existing.rate_limit, "after": rate_limit});
    }
    if let Some(n) = &networks {
        details["allowed_networks"] = json!({
            "before": existing.allowed_networks.to_strings(),
            "after": n.to_strings(),
        });
    }
    let mut event = actor.event(
        Some(org_id),
        &format!("{}_key.regenerated", kind.as_str()),
        Some(client_id),
        details,
    );
    // An immediate end reads as the moment of the event itself.
    event.occurred_at = now;
    let rotation = Rotation {
        secret_hash,
        previous_secret_expires_at: previous_until,
        expires_at,
        rate_limit,
    };
    let key = app
        .store
        .regenerate_key(org_id, client_id, &rotation, networks.as_ref(), now, &event)
        .await?;
    refresh(app, client_id).await;
    Ok(Revealed { key, api_key })
}

/// What a client sends to create or edit a scoped key.
pub struct ScopeInput {
    pub org_permissions: Vec<Permission>,
    pub account_permissions: Option<AccountPermissionsInput>,
    /// When the key stops working (RFC 3339, in the future); `None`: never.
    pub expires_at: Option<String>,
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

pub struct AccountPermissionsInput {
    pub accounts: keygate_core::AccountSelection,
    pub resources: Vec<Permission>,
}

async fn build_scope(app: &App, org_id: &OrgId, input: &ScopeInput) -> Result<KeyScope, Error> {
    let accounts = app.store.accounts(org_id).await?;
    let (selection, resources) = match &input.account_permissions {
        Some(a) => (a.accounts.clone(), a.resources.as_slice()),
        None => (keygate_core::AccountSelection::none(), &[][..]),
    };
    Ok(KeyScope::scoped(
        &input.org_permissions,
        &selection,
        resources,
        &app.catalog,
        |id| account_in(&accounts, id),
    )?)
}

pub async fn create_scoped(
    app: &App,
    who: &Acting,
    name: &str,
    input: &ScopeInput,
    rate_limit: Option<RateLimit>,
    terms: &KeyTerms,
    password: Option<&str>,
) -> Result<Revealed, Error> {
    passwords::confirm(app, &who.user, password).await?;
    let name = KeyName::parse(name, "name")?;
    let scope = build_scope(app, &who.org_id, input).await?;
    let expires_at = new_expiry(Some(input.expires_at.as_deref()), None, now_ms())?;
    let networks = terms.networks()?.unwrap_or_default();
    key_policy::check(app, &who.org_id, expires_at, &networks).await?;
    let terms = NewKey {
        rate_limit,
        expires_at,
        allowed_networks: networks,
    };
    insert_scoped(app, who, name, scope, terms, "scoped_key.created", None).await
}

/// What a new scoped key has besides its name and scope.
struct NewKey {
    rate_limit: Option<RateLimit>,
    expires_at: Option<i64>,
    allowed_networks: Networks,
}

async fn insert_scoped(
    app: &App,
    who: &Acting,
    name: KeyName,
    scope: KeyScope,
    terms: NewKey,
    action: &str,
    duplicated_from: Option<&ClientId>,
) -> Result<Revealed, Error> {
    let (actor, org_id) = (&who.actor, &who.org_id);
    let (api_key, secret_hash) = new_secret(app);
    let now = now_ms();
    let key = KeyRecord {
        client_id: ClientId::generate(),
        org_id: org_id.clone(),
        kind: KeyKind::Scoped,
        owner_id: None,
        name: name.into_string(),
        secret_hash,
        generation: 1,
        scope,
        rate_limit: terms.rate_limit,
        expires_at: terms.expires_at,
        previous_secret: None,
        allowed_networks: terms.allowed_networks,
        created_at: now,
        updated_at: now,
        exposed_at: None,
    };
    let mut details = with_networks(
        json!({"name": key.name, "scope": key.scope}),
        &key.allowed_networks,
    );
    if let Some(l) = key.rate_limit {
        details["rate_limit"] = json!(l);
    }
    if key.expires_at.is_some() {
        details["expires_at"] = rfc3339(key.expires_at);
    }
    if let Some(from) = duplicated_from {
        details["duplicated_from"] = from.as_str().into();
    }
    let event = actor.event(Some(org_id), action, Some(&key.client_id), details);
    app.store.insert_key(&key, &event).await?;
    refresh(app, &key.client_id).await;
    Ok(Revealed { key, api_key })
}

/// A new key with the scope of `client_id`; it expires at `expires_at` (RFC
/// 3339) if given, else never (the original's expiry is not copied).
pub async fn duplicate(
    app: &App,
    who: &Acting,
    client_id: &ClientId,
    name: Option<&str>,
    rate_limit: LimitChange,
    terms: &KeyTerms,
    password: Option<&str>,
) -> Result<Revealed, Error> {
    let original = get(app, &who.org_id, client_id, KeyKind::Scoped).await?;
    passwords::confirm(app, &who.user, password).await?;
    let networks = terms
        .networks()?
        .unwrap_or_else(|| original.allowed_networks.clone());
    // The original's expiry is not copied: absent means never.
    let expires_at = new_expiry(Some(terms.expires_at.as_deref()), None, now_ms())?;
    key_policy::check(app, &who.org_id, expires_at, &networks).await?;
    let name = match name {
        Some(n) => KeyName::parse(n, "name")?,
        None => {
            let base: String = original.name.chars().take(KeyName::MAX_CHARS - 7).collect();
            KeyName::parse(&format!("{base} (copy)"), "name")?
        }
    };
    insert_scoped(
        app,
        who,
        name,
        original.scope,
        NewKey {
            rate_limit: rate_limit.apply(original.rate_limit),
            expires_at,
            allowed_networks: networks,
        },
        "scoped_key.duplicated",
        Some(client_id),
    )
    .await
}

/// What an edit changes; `None` keeps what the key has.
#[derive(Default)]
pub struct KeyChanges {
    pub name: Option<String>,
    pub org_permissions: Option<Vec<Permission>>,
    pub account_permissions: Option<AccountPermissionsInput>,
    pub rate_limit: LimitChange,
    /// `None` keeps the expiry, `Some(None)` clears it, `Some(Some(t))` sets
    /// it (RFC 3339, in the future).
    pub expires_at: Option<Option<String>>,
    /// The network allowlist (CIDRs or addresses): `None` keeps the key's,
    /// an empty list means anywhere.
    pub allowed_networks: Option<Vec<String>>,
}

/// Changes a scoped key's name, scope, rate limit, expiry and/or allowlist;
/// the secret stays the same. The key as it will be must meet the
/// organization's key policy.
pub async fn update(
    app: &App,
    who: &Acting,
    client_id: &ClientId,
    changes: KeyChanges,
    password: Option<&str>,
) -> Result<KeyRecord, Error> {
    let (actor, org_id) = (&who.actor, &who.org_id);
    let before = get(app, org_id, client_id, KeyKind::Scoped).await?;
    passwords::confirm(app, &who.user, password).await?;
    let KeyChanges {
        name,
        org_permissions,
        account_permissions,
        rate_limit,
        expires_at,
        allowed_networks,
    } = changes;
    let rate_limit = rate_limit.apply(before.rate_limit);
    let now = now_ms();
    let expires_at = new_expiry(
        expires_at.as_ref().map(Option::as_deref),
        before.expires_at,
        now,
    )?;
    let KeyScope::Scoped {
        org_permissions: old_org,
        account_permissions: old_acct,
    } = &before.scope
    else {
        return Err(Error::NotFound);
    };
    let name = match name {
        Some(n) => KeyName::parse(&n, "name")?.into_string(),
        None => before.name.clone(),
    };
    let input = ScopeInput {
        org_permissions: org_permissions.unwrap_or_else(|| old_org.clone().into()),
        account_permissions: Some(account_permissions.unwrap_or_else(|| {
            let AccountPermissions {
                accounts,
                resources,
            } = old_acct.clone();
            AccountPermissionsInput {
                accounts,
                resources: resources.into(),
            }
        })),
        expires_at: None,
    };
    let scope = build_scope(app, org_id, &input).await?;
    let networks = match &allowed_networks {
        Some(n) => Networks::parse(n, "allowed_networks")?,
        None => before.allowed_networks.clone(),
    };
    key_policy::check(app, org_id, expires_at, &networks).await?;
    let mut details = json!({"name": {"before": before.name, "after": name},
                             "scope": {"before": before.scope, "after": scope}});
    if rate_limit != before.rate_limit {
        details["rate_limit"] = json!({"before": before.rate_limit, "after": rate_limit});
    }
    if before.expires_at != expires_at {
        details["expires_at"] =
            json!({"before": rfc3339(before.expires_at), "after": rfc3339(expires_at)});
    }
    if networks != before.allowed_networks {
        details["allowed_networks"] = json!({
            "before": before.allowed_networks.to_strings(),
            "after": networks.to_strings(),
        });
    }
    let event = actor.event(Some(org_id), "scoped_key.updated", Some(client_id), details);
    let key = app
        .store
        .update_key(
            org_id,
            client_id,
            &KeyEdit {
                name: &name,
                scope: &scope,
                rate_limit,
                expires_at,
                allowed_networks: &networks,
            },
            now,
            &event,
        )
        .await?;
    refresh(app, client_id).await;
    Ok(key)
}

/// Sets or clears the rate limit of a key of `kind` (the route's); for admin
/// keys this is the only edit there is.
pub async fn set_rate_limit(
    app: &App,
    who: &Acting,
    client_id: &ClientId,
    kind: KeyKind,
    change: LimitChange,
    password: Option<&str>,
) -> Result<KeyRecord, Error> {
    let (actor, org_id) = (&who.actor, &who.org_id);
    let before = get(app, org_id, client_id, kind).await?;
    passwords::confirm(app, &who.user, password).await?;
    let rate_limit = change.apply(before.rate_limit);
    if rate_limit == before.rate_limit {
        return Ok(before);
    }
    let event = actor.event(
        Some(org_id),
        &format!("{}_key.updated", kind.as_str()),
        Some(client_id),
        json!({"name": before.name, "owner_id": before.owner_id,
               "rate_limit": {"before": before.rate_limit, "after": rate_limit}}),
    );
    let key = app
        .store
        .set_key_rate_limit(org_id, client_id, rate_limit, now_ms(), &event)
        .await?;
    refresh(app, client_id).await;
    Ok(key)
}

pub async fn delete(
    app: &App,
    who: &Acting,
    client_id: &ClientId,
    password: Option<&str>,
) -> Result<(), Error> {
    let (actor, org_id) = (&who.actor, &who.org_id);
    let key = get(app, org_id, client_id, KeyKind::Scoped).await?;
    passwords::confirm(app, &who.user, password).await?;
    let event = actor.event(
        Some(org_id),
        "scoped_key.deleted",
        Some(client_id),
        json!({"name": key.name, "scope": key.scope}),
    );
    app.store.delete_key(org_id, client_id, &event).await?;
    refresh(app, client_id).await;
    Ok(())
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
