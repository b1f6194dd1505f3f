//! The key actions of the reference page: generate and regenerate admin keys;
//! create, regenerate, duplicate, edit and delete scoped keys.
//!
//! Each action is confirmed with the user's password, writes the key change and
//! its audit event in one transaction, then refreshes the credential cache so
//! the change bites on the very next login or token check.
//!
//! What they share is in `common.rs`; scoped keys' own actions in `scoped.rs`.

mod common;
mod scoped;

use keygate_core::permission::KeyScope;
use keygate_core::time::format_rfc3339;
use keygate_core::{AccountId, ClientId, Networks, RateLimit};
use keygate_store::{KeyKind, KeyRecord, Rotation};
use serde_json::json;

use crate::service::{Acting, Error, key_policy, passwords};
use crate::state::app::App;
use crate::state::clock::now_ms;

pub(crate) use common::refresh;
pub use common::{KeyTerms, LimitChange, Revealed, credits_json, find, get, list};
use common::{new_expiry, new_secret, rfc3339, with_networks};
pub use scoped::{
    AccountPermissionsInput, KeyChanges, ScopeInput, create_scoped, delete, duplicate,
    field_problems, update,
};

/// The longest grace period a regenerate may give the replaced secret: 7 days.
pub const MAX_GRACE_SECS: i64 = 7 * 86_400;

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
        require_dpop: false,
        federation: Default::default(),
        created_at: now,
        updated_at: now,
        exposed_at: None,
        credits: None,
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
