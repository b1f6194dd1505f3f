//! The key actions of the reference page: generate and regenerate admin keys;
//! create, regenerate, duplicate, edit and delete scoped keys.
//!
//! Each action is confirmed with the user's password, writes the key change and
//! its audit event in one transaction, then refreshes the credential cache so
//! the change bites on the very next login or token check.

use keygate_core::permission::{AccountPermissions, KeyScope, Permission};
use keygate_core::text::KeyName;
use keygate_core::time::parse_rfc3339;
use keygate_core::{AccountId, ApiKey, ClientId, Networks, OrgId};
use keygate_store::{KeyEdit, KeyKind, KeyRecord, StoreError, account_in};
use serde_json::json;

use crate::app::App;
use crate::clock::now_ms;
use crate::service::{Acting, Error, key_policy, passwords};

/// Key fields of the key lifecycle that a create, duplicate, edit or
/// regenerate may set, as the client sent them (checked here).
#[derive(Debug, Default, Clone)]
pub struct KeyTerms {
    /// The network allowlist (CIDRs or addresses). `None`: keep the key's
    /// (edit, regenerate; duplicate copies the original's), or anywhere
    /// (create). An empty list: anywhere.
    pub allowed_networks: Option<Vec<String>>,
    // life-policy: `expires_at` is read here only for the organization's key
    // policy; life-rotate's branch stores it (the lead merges the two).
    /// RFC 3339; `None`: keep the key's (none on create).
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

    // life-policy: merged with life-rotate's expiry parsing.
    fn expires_at(&self) -> Result<Option<i64>, Error> {
        self.expires_at
            .as_deref()
            .map(|s| {
                parse_rfc3339(s).ok_or_else(|| {
                    Error::invalid(
                        "expires_at",
                        "must be an RFC 3339 time, like 2026-05-12T00:00:00Z",
                    )
                })
            })
            .transpose()
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
    terms: &KeyTerms,
    password: Option<&str>,
) -> Result<Revealed, Error> {
    passwords::confirm(app, &who.user, password).await?;
    let (actor, org_id) = (&who.actor, &who.org_id);
    let allowed_networks = terms.networks()?.unwrap_or_default();
    key_policy::check(app, org_id, terms.expires_at()?, &allowed_networks).await?;
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
        allowed_networks,
        created_at: now,
        updated_at: now,
    };
    let event = actor.event(
        Some(org_id),
        "admin_key.generated",
        Some(&key.client_id),
        with_networks(
            json!({"owner_id": owner_id, "name": key.name}),
            &key.allowed_networks,
        ),
    );
    app.store.insert_key(&key, &event).await?;
    refresh(app, &key.client_id).await;
    Ok(Revealed { key, api_key })
}

/// Regenerates an admin or scoped key (`kind` is the route's): new secret,
/// same client id, and every token issued before stops working. `terms` may
/// replace the allowlist (the way to change an admin key's); the key as it
/// will be must meet the organization's key policy.
pub async fn regenerate(
    app: &App,
    who: &Acting,
    client_id: &ClientId,
    kind: KeyKind,
    terms: &KeyTerms,
    password: Option<&str>,
) -> Result<Revealed, Error> {
    let (actor, org_id) = (&who.actor, &who.org_id);
    let existing = get(app, org_id, client_id, kind).await?;
    passwords::confirm(app, &who.user, password).await?;
    let networks = terms.networks()?;
    let after = networks.as_ref().unwrap_or(&existing.allowed_networks);
    // life-policy: with life-rotate, an absent expires_at keeps the key's.
    key_policy::check(app, org_id, terms.expires_at()?, after).await?;
    let (api_key, secret_hash) = new_secret(app);
    let mut details = json!({"name": existing.name, "owner_id": existing.owner_id});
    if let Some(n) = &networks {
        details["allowed_networks"] = json!({
            "before": existing.allowed_networks.to_strings(),
            "after": n.to_strings(),
        });
    }
    let event = actor.event(
        Some(org_id),
        &format!("{}_key.regenerated", kind.as_str()),
        Some(client_id),
        details,
    );
    let key = app
        .store
        .regenerate_key(
            org_id,
            client_id,
            &secret_hash,
            networks.as_ref(),
            now_ms(),
            &event,
        )
        .await?;
    refresh(app, client_id).await;
    Ok(Revealed { key, api_key })
}

/// What a client sends to create or edit a scoped key.
pub struct ScopeInput {
    pub org_permissions: Vec<Permission>,
    pub account_permissions: Option<AccountPermissionsInput>,
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
    terms: &KeyTerms,
    password: Option<&str>,
) -> Result<Revealed, Error> {
    passwords::confirm(app, &who.user, password).await?;
    let name = KeyName::parse(name, "name")?;
    let scope = build_scope(app, &who.org_id, input).await?;
    let networks = terms.networks()?.unwrap_or_default();
    key_policy::check(app, &who.org_id, terms.expires_at()?, &networks).await?;
    insert_scoped(app, who, name, scope, networks, "scoped_key.created", None).await
}

async fn insert_scoped(
    app: &App,
    who: &Acting,
    name: KeyName,
    scope: KeyScope,
    allowed_networks: Networks,
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
        allowed_networks,
        created_at: now,
        updated_at: now,
    };
    let mut details = with_networks(
        json!({"name": key.name, "scope": key.scope}),
        &key.allowed_networks,
    );
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
    terms: &KeyTerms,
    password: Option<&str>,
) -> Result<Revealed, Error> {
    let original = get(app, &who.org_id, client_id, KeyKind::Scoped).await?;
    passwords::confirm(app, &who.user, password).await?;
    let networks = terms
        .networks()?
        .unwrap_or_else(|| original.allowed_networks.clone());
    // life-policy: with life-rotate, an absent expires_at copies the original's.
    key_policy::check(app, &who.org_id, terms.expires_at()?, &networks).await?;
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
        networks,
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
    /// The allowlist and (for the policy) the expiry; see [`KeyTerms`].
    pub terms: KeyTerms,
}

/// Changes a scoped key's name, scope and/or allowlist; the secret stays the
/// same. The key as it will be must meet the organization's key policy.
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
        terms,
    } = changes;
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
    let networks = terms
        .networks()?
        .unwrap_or_else(|| before.allowed_networks.clone());
    // life-policy: with life-rotate, an absent expires_at keeps `before.expires_at`.
    key_policy::check(app, org_id, terms.expires_at()?, &networks).await?;
    let mut details = json!({"name": {"before": before.name, "after": name},
                             "scope": {"before": before.scope, "after": scope}});
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
                allowed_networks: &networks,
            },
            now_ms(),
            &event,
        )
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
