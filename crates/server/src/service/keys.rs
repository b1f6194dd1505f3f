//! The key actions of the reference page: generate and regenerate admin keys;
//! create, regenerate, duplicate, edit and delete scoped keys.
//!
//! Each action is confirmed with the user's password, writes the key change and
//! its audit event in one transaction, then refreshes the credential cache so
//! the change bites on the very next login or token check.

use keygate_core::permission::{AccountPermissions, KeyScope, Permission};
use keygate_core::text::KeyName;
use keygate_core::{AccountId, ApiKey, ClientId, OrgId, RateLimit};
use keygate_store::{KeyEdit, KeyKind, KeyRecord, StoreError, account_in};
use serde_json::json;

use crate::app::App;
use crate::clock::now_ms;
use crate::service::{Acting, Error, passwords};

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
    password: Option<&str>,
) -> Result<Revealed, Error> {
    passwords::confirm(app, &who.user, password).await?;
    let (actor, org_id) = (&who.actor, &who.org_id);
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
        details,
    );
    app.store.insert_key(&key, &event).await?;
    refresh(app, &key.client_id).await;
    Ok(Revealed { key, api_key })
}

/// Regenerates an admin or scoped key (`kind` is the route's): new secret,
/// same client id, and every token issued before stops working.
pub async fn regenerate(
    app: &App,
    who: &Acting,
    client_id: &ClientId,
    kind: KeyKind,
    password: Option<&str>,
) -> Result<Revealed, Error> {
    let (actor, org_id) = (&who.actor, &who.org_id);
    let existing = get(app, org_id, client_id, kind).await?;
    passwords::confirm(app, &who.user, password).await?;
    let (api_key, secret_hash) = new_secret(app);
    let event = actor.event(
        Some(org_id),
        &format!("{}_key.regenerated", kind.as_str()),
        Some(client_id),
        json!({"name": existing.name, "owner_id": existing.owner_id}),
    );
    let key = app
        .store
        .regenerate_key(org_id, client_id, &secret_hash, now_ms(), &event)
        .await?;
    refresh(app, client_id).await;
    Ok(Revealed { key, api_key })
}

/// What a client sends to create or edit a scoped key.
pub struct ScopeInput {
    pub org_permissions: Vec<Permission>,
    pub account_permissions: Option<AccountPermissionsInput>,
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
    password: Option<&str>,
) -> Result<Revealed, Error> {
    passwords::confirm(app, &who.user, password).await?;
    let name = KeyName::parse(name, "name")?;
    let scope = build_scope(app, &who.org_id, input).await?;
    insert_scoped(
        app,
        who,
        name,
        scope,
        rate_limit,
        "scoped_key.created",
        None,
    )
    .await
}

async fn insert_scoped(
    app: &App,
    who: &Acting,
    name: KeyName,
    scope: KeyScope,
    rate_limit: Option<RateLimit>,
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
        rate_limit,
        created_at: now,
        updated_at: now,
        exposed_at: None,
    };
    let mut details = json!({"name": key.name, "scope": key.scope});
    if let Some(l) = rate_limit {
        details["rate_limit"] = json!(l);
    }
    if let Some(from) = duplicated_from {
        details["duplicated_from"] = from.as_str().into();
    }
    let event = actor.event(Some(org_id), action, Some(&key.client_id), details);
    app.store.insert_key(&key, &event).await?;
    refresh(app, &key.client_id).await;
    Ok(Revealed { key, api_key })
}

pub async fn duplicate(
    app: &App,
    who: &Acting,
    client_id: &ClientId,
    name: Option<&str>,
    rate_limit: LimitChange,
    password: Option<&str>,
) -> Result<Revealed, Error> {
    let original = get(app, &who.org_id, client_id, KeyKind::Scoped).await?;
    passwords::confirm(app, &who.user, password).await?;
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
        rate_limit.apply(original.rate_limit),
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
}

/// Changes a scoped key's name, scope and/or rate limit; the secret stays the same.
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
    } = changes;
    let rate_limit = rate_limit.apply(before.rate_limit);
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
    };
    let scope = build_scope(app, org_id, &input).await?;
    let mut details = json!({"name": {"before": before.name, "after": name},
           "scope": {"before": before.scope, "after": scope}});
    if rate_limit != before.rate_limit {
        details["rate_limit"] = json!({"before": before.rate_limit, "after": rate_limit});
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
            },
            now_ms(),
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
