//! Scoped keys: create, duplicate, edit and delete, each confirmed with the
//! user's password and checked against the organization's key policy.

use keygate_core::credits::Credits;
use keygate_core::federation::{FederationRule, FederationRules};
use keygate_core::permission::{AccountPermissions, KeyScope, Permission};
use keygate_core::text::KeyName;
use keygate_core::{ClientId, Networks, OrgId, RateLimit};
use keygate_store::{KeyEdit, KeyKind, KeyRecord, account_in};
use serde_json::json;

use crate::service::keys::common::{
    KeyTerms, LimitChange, Revealed, credits_json, federation_rules, get, new_expiry, new_secret,
    parse_credits, refresh, rfc3339, with_networks,
};
use crate::service::{Acting, Error, key_policy, passwords};
use crate::state::app::App;
use crate::state::clock::now_ms;

/// What a client sends to create or edit a scoped key.
pub struct ScopeInput {
    pub org_permissions: Vec<Permission>,
    pub account_permissions: Option<AccountPermissionsInput>,
    /// When the key stops working (RFC 3339, in the future); `None`: never.
    pub expires_at: Option<String>,
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

/// Every problem of a scoped key's fields at once (name, scope, expiry,
/// allowlist and the organization's key policy), so a form can show them
/// together; empty when they would pass. `expiry` is a change as
/// [`update`] takes it (`None` keeps `current`); `input` and `terms` are
/// `None` when the form could not even read them (its own error says so).
/// The create and update that follow still check everything themselves.
pub async fn field_problems(
    app: &App,
    org_id: &OrgId,
    name: &str,
    input: Option<&ScopeInput>,
    expiry: Option<Option<&str>>,
    current: Option<i64>,
    terms: Option<&KeyTerms>,
) -> Result<Vec<Error>, Error> {
    let mut problems = Vec::new();
    let mut note = |r: Result<(), Error>| match r {
        Err(e @ Error::Invalid { .. }) => {
            problems.push(e);
            Ok(())
        }
        other => other,
    };
    note(
        KeyName::parse(name, "name")
            .map(|_| ())
            .map_err(Error::from),
    )?;
    if let Some(input) = input {
        note(build_scope(app, org_id, input).await.map(|_| ()))?;
    }
    let expires_at = new_expiry(expiry, current, now_ms());
    let networks = terms.map(KeyTerms::networks).transpose();
    let (expires_at, networks) = match (expires_at, networks) {
        (Ok(e), Ok(n)) => (Some(e), n.flatten()),
        (e, n) => {
            note(e.map(|_| ()))?;
            note(n.map(|_| ()))?;
            (None, None)
        }
    };
    if let Some(t) = terms {
        note(t.federation(app).map(|_| ()))?;
    }
    if let Some(expires_at) = expires_at {
        let networks = networks.unwrap_or_default();
        note(key_policy::check(app, org_id, expires_at, &networks).await)?;
    }
    Ok(problems)
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
    let federation = terms.federation(app)?.unwrap_or_default();
    key_policy::check(app, &who.org_id, expires_at, &networks).await?;
    let credits = terms.credits(now_ms())?.flatten();
    let terms = NewKey {
        rate_limit,
        expires_at,
        allowed_networks: networks,
        require_dpop: terms.require_dpop.unwrap_or(false),
        credits,
        federation,
    };
    insert_scoped(app, who, name, scope, terms, "scoped_key.created", None).await
}

/// What a new scoped key has besides its name and scope.
struct NewKey {
    rate_limit: Option<RateLimit>,
    expires_at: Option<i64>,
    allowed_networks: Networks,
    require_dpop: bool,
    credits: Option<Credits>,
    federation: FederationRules,
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
        require_dpop: terms.require_dpop,
        federation: terms.federation,
        created_at: now,
        updated_at: now,
        exposed_at: None,
        credits: terms.credits,
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
    if key.require_dpop {
        details["require_dpop"] = true.into();
    }
    if key.credits.is_some() {
        details["credits"] = credits_json(key.credits.as_ref(), None);
    }
    if !key.federation.is_empty() {
        details["federation"] = json!(key.federation.as_slice());
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
    let federation = terms
        .federation(app)?
        .unwrap_or_else(|| original.federation.clone());
    // The original's expiry is not copied: absent means never.
    let expires_at = new_expiry(Some(terms.expires_at.as_deref()), None, now_ms())?;
    key_policy::check(app, &who.org_id, expires_at, &networks).await?;
    let now = now_ms();
    // Absent: the original's terms with what it has left now, set anew.
    let credits = match terms.credits(now)? {
        Some(c) => c,
        None => original.credits.map(|c| Credits {
            remaining: app.credits.remaining(client_id, &c, now),
            period_start: c.period_at(now),
            set_at: now,
            ..c
        }),
    };
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
            require_dpop: terms.require_dpop.unwrap_or(original.require_dpop),
            credits,
            federation,
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
    /// Issue only DPoP-bound tokens: `None` keeps the key's setting.
    pub require_dpop: Option<bool>,
    /// Credits as sent: `None` keeps the key's (and what is used of them),
    /// `Some(None)` (null) removes them, else new ones from now on.
    pub credits: Option<Option<serde_json::Value>>,
    /// The federation rules: `None` keeps the key's, an empty list means none.
    pub federation: Option<Vec<FederationRule>>,
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
        require_dpop,
        credits,
        federation,
    } = changes;
    let require_dpop = require_dpop.unwrap_or(before.require_dpop);
    let federation = match &federation {
        Some(r) => federation_rules(app, r)?,
        None => before.federation.clone(),
    };
    let rate_limit = rate_limit.apply(before.rate_limit);
    let now = now_ms();
    let credits = parse_credits(credits.as_ref(), now)?;
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
    if require_dpop != before.require_dpop {
        details["require_dpop"] = json!({"before": before.require_dpop, "after": require_dpop});
    }
    if let Some(after) = &credits {
        let left = before
            .credits
            .map(|c| app.credits.remaining(client_id, &c, now));
        details["credits"] = json!({"before": credits_json(before.credits.as_ref(), left),
                                    "after": credits_json(after.as_ref(), None)});
    }
    if federation != before.federation {
        details["federation"] = json!({
            "before": before.federation.as_slice(),
            "after": federation.as_slice(),
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
                require_dpop,
                credits,
                federation: &federation,
            },
            now,
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
