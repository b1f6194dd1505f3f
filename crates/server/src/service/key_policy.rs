//! Organization key policies: rules every key of the organization must meet
//! when it is created, duplicated, edited or regenerated. A policy set later
//! changes no key; the keys that break it are listed ([`breaking_keys`]).
//! The organization's `on_leak` setting (what a leak report does) lives here
//! too: it is set with the policy's rules, under one password confirmation.

use keygate_core::network::Networks;
use keygate_core::policy::{KeyFacts, KeyPolicy};
use keygate_core::{ClientId, OnLeak, OrgId, Role};
use keygate_store::{KeyKind, KeyRecord};
use serde_json::json;

use crate::service::{Acting, Error, Need, passwords};
use crate::state::app::App;
use crate::state::audit::Actor;
use crate::state::clock::now_ms;

/// The one check of a key against its organization's policy, with the key's
/// fields as they will be after the change. The error names the field to fix
/// (`expires_at` or `allowed_networks`).
pub async fn check(
    app: &App,
    org_id: &OrgId,
    expires_at: Option<i64>,
    allowed_networks: &Networks,
) -> Result<(), Error> {
    let policy = app.store.key_policy(org_id).await?;
    let facts = KeyFacts {
        expires_at,
        allowed_networks,
    };
    Ok(policy.check(facts, now_ms())?)
}

/// What a `PATCH …/key-policy` changes: absent (`None`) keeps a setting,
/// `Some(None)` (JSON `null`) clears it. A new setting is one more field
/// here and one line in [`set`].
#[derive(Debug, Default)]
pub struct PolicyChanges {
    pub max_lifetime_days: Option<Option<i64>>,
    pub require_expiry: Option<Option<bool>>,
    pub require_allowed_networks: Option<Option<bool>>,
    /// `revoke` or `notify` (`null`: back to the default, `revoke`); kept
    /// apart from the policy's rules by the store (`Store::set_on_leak`).
    pub on_leak: Option<Option<String>>,
}

pub async fn get(app: &App, org_id: &OrgId) -> Result<KeyPolicy, Error> {
    Ok(app.store.key_policy(org_id).await?)
}

/// Changes the organization's key policy (owner; the route checks the role).
pub async fn set(
    app: &App,
    who: &Acting,
    changes: PolicyChanges,
    password: Option<&str>,
) -> Result<KeyPolicy, Error> {
    // Every value is checked before anything is written.
    let on_leak = match &changes.on_leak {
        None => None,
        Some(None) => Some(OnLeak::Revoke),
        Some(Some(v)) => Some(OnLeak::parse(v, "on_leak")?),
    };
    if let Some(Some(days)) = changes.max_lifetime_days {
        KeyPolicy::check_lifetime(days, "max_lifetime_days")?;
    }
    passwords::confirm(app, &who.user, password).await?;
    if let Some(on_leak) = on_leak
        && on_leak != self::on_leak(app, &who.org_id).await?
    {
        set_on_leak_confirmed(app, who, on_leak).await?;
    }
    let before = app.store.key_policy(&who.org_id).await?;
    let mut after = before.clone();
    if let Some(days) = changes.max_lifetime_days {
        after.max_lifetime_days = days
            .map(|d| KeyPolicy::check_lifetime(d, "max_lifetime_days"))
            .transpose()?;
    }
    if let Some(on) = changes.require_expiry {
        after.require_expiry = on.unwrap_or(false);
    }
    if let Some(on) = changes.require_allowed_networks {
        after.require_allowed_networks = on.unwrap_or(false);
    }
    if after == before {
        return Ok(after);
    }
    let event = who.actor.event(
        Some(&who.org_id),
        "org.key_policy_updated",
        None,
        json!({"before": view(&before), "after": view(&after)}),
    );
    app.store
        .set_key_policy(&who.org_id, &after, now_ms(), &event)
        .await?;
    Ok(after)
}

fn view(p: &KeyPolicy) -> serde_json::Value {
    json!({
        "max_lifetime_days": p.max_lifetime_days,
        "require_expiry": p.require_expiry,
        "require_allowed_networks": p.require_allowed_networks,
    })
}

/// A key that breaks the policy, and the fields it breaks it with.
pub struct Breaking {
    pub client_id: ClientId,
    pub kind: KeyKind,
    pub name: String,
    pub fields: Vec<String>,
    pub messages: Vec<String>,
}

/// The organization's keys that break its policy now (set after they were
/// made); they keep working until someone edits them.
pub async fn breaking_keys(
    app: &App,
    org_id: &OrgId,
    policy: &KeyPolicy,
) -> Result<Vec<Breaking>, Error> {
    if *policy == KeyPolicy::default() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let keys: Vec<KeyRecord> = app.store.keys(org_id).await?;
    Ok(keys
        .into_iter()
        .filter_map(|k| {
            let facts = KeyFacts {
                expires_at: k.expires_at,
                allowed_networks: &k.allowed_networks,
            };
            let found = policy.breaches(facts, now);
            (!found.is_empty()).then(|| Breaking {
                client_id: k.client_id.clone(),
                kind: k.kind,
                name: k.name.clone(),
                fields: found.iter().map(|b| b.source.clone()).collect(),
                messages: found.into_iter().map(|b| b.message).collect(),
            })
        })
        .collect())
}

/// The organization's `on_leak` setting.
pub async fn on_leak(app: &App, org_id: &OrgId) -> Result<OnLeak, Error> {
    Ok(app.store.on_leak(org_id).await?)
}

/// Sets `on_leak` for an owner whose password the caller has confirmed
/// already (a route that changes several settings with one confirmation).
pub async fn set_on_leak_confirmed(
    app: &App,
    who: &Acting,
    on_leak: OnLeak,
) -> Result<OnLeak, Error> {
    if who.role != Role::Owner {
        return Err(Error::Forbidden(Need::Owner));
    }
    let event = who.actor.event(
        Some(&who.org_id),
        "org.updated",
        None,
        json!({"on_leak": on_leak.as_str()}),
    );
    app.store.set_on_leak(&who.org_id, on_leak, &event).await?;
    Ok(on_leak)
}

/// `keygate org set --on-leak`: the operator's way, without a member.
pub async fn set_on_leak_as_operator(
    store: &dyn keygate_store::Store,
    org_id: &str,
    on_leak: &str,
) -> Result<OnLeak, Error> {
    let on_leak = OnLeak::parse(on_leak, "on_leak")?;
    let org_id = OrgId::parse(org_id).map_err(|_| Error::NotFound)?;
    let event = Actor::default().event(
        Some(&org_id),
        "org.updated",
        None,
        json!({"on_leak": on_leak.as_str()}),
    );
    store.set_on_leak(&org_id, on_leak, &event).await?;
    Ok(on_leak)
}
