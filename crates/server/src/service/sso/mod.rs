//! Single sign-on with OpenID Connect, per organization (owner only): the
//! settings (issuer, client, email domains, enforcement, the role of people
//! who join through it), and the rule that keeps enforced members off the
//! password (`enforce.rs`). The sign-in itself is in `flow.rs`; the provider is reached
//! through `http.rs`. The client secret is sealed at rest
//! (`keygate_core::sso::seal`, bound to the org id).

pub mod enforce;
mod flow;
mod http;

pub use flow::{Started, finish, start};

/// How long the browser keeps the pending sign-in's cookie, in seconds.
pub fn flow_cookie_max_age() -> i64 {
    flow::PENDING_TTL_SECS
}

use keygate_core::sso::{parse_domains, seal};
use keygate_core::text::Invalid;
use keygate_core::{OrgId, Role};
use keygate_store::{SsoSettingsRecord, StoreError};
use serde_json::json;

use crate::service::{Acting, Error, passwords};
use crate::state::app::App;
use crate::state::clock::now_ms;

/// What the owner sends (every field optional here, so a missing one is a
/// 400 naming it).
pub struct Input<'a> {
    pub issuer: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub client_secret: Option<&'a str>,
    pub domains: Option<&'a [String]>,
    pub enforce: Option<bool>,
    pub default_role: Option<&'a str>,
}

fn missing(field: &str) -> Error {
    Error::invalid(field, format!("missing field `{field}`"))
}

/// A text field: present, trimmed, 1 to 2048 characters.
fn text<'a>(field: &str, v: Option<&'a str>) -> Result<&'a str, Error> {
    let v = v.ok_or_else(|| missing(field))?.trim();
    if v.is_empty() || v.len() > 2048 {
        return Err(Error::invalid(field, "must be 1 to 2048 characters"));
    }
    Ok(v)
}

/// The role of people who join through the provider: never the owner.
fn default_role(v: Option<&str>) -> Result<Role, Error> {
    match v.map(Role::parse) {
        None => Err(missing("default_role")),
        Some(Some(r)) if r != Role::Owner => Ok(r),
        Some(_) => Err(Error::invalid(
            "default_role",
            "must be admin, developer, analyst or viewer",
        )),
    }
}

/// Creates or replaces the organization's settings. The issuer's discovery
/// document is read first: one that cannot be read (or names another
/// issuer) is a 400 naming `issuer`, and nothing is stored.
pub async fn put(
    app: &App,
    who: &Acting,
    input: Input<'_>,
    password: Option<&str>,
) -> Result<SsoSettingsRecord, Error> {
    passwords::confirm(app, &who.user, password).await?;
    let issuer = text("issuer", input.issuer)?;
    let client_id = text("client_id", input.client_id)?;
    let client_secret = text("client_secret", input.client_secret)?;
    let domains = parse_domains(input.domains.ok_or_else(|| missing("domains"))?)
        .map_err(|e: Invalid| Error::from(e))?;
    let enforce = input.enforce.ok_or_else(|| missing("enforce"))?;
    let default_role = default_role(input.default_role)?;
    flow::discover(app, issuer)
        .await
        .map_err(|why| Error::invalid("issuer", format!("{issuer}: {why}")))?;
    let now = now_ms();
    let created_at = match app.store.sso_settings(&who.org_id).await? {
        Some(old) => old.created_at,
        None => now,
    };
    let settings = SsoSettingsRecord {
        org_id: who.org_id.clone(),
        issuer: issuer.to_owned(),
        client_id: client_id.to_owned(),
        sealed_secret: seal(&app.pepper, who.org_id.as_str(), client_secret.as_bytes()),
        domains,
        enforce,
        default_role,
        created_at,
        updated_at: now,
    };
    let event = who.actor.event(
        Some(&who.org_id),
        "sso.updated",
        None,
        json!({"issuer": settings.issuer, "client_id": settings.client_id,
               "domains": settings.domains, "enforce": enforce,
               "default_role": default_role.as_str()}),
    );
    app.store.put_sso_settings(&settings, &event).await?;
    Ok(settings)
}

/// The organization's settings, or 404.
pub async fn get(app: &App, org_id: &OrgId) -> Result<SsoSettingsRecord, Error> {
    app.store.sso_settings(org_id).await?.ok_or(Error::NotFound)
}

/// Turns single sign-on off: password sign-in works again for everyone.
pub async fn delete(app: &App, who: &Acting, password: Option<&str>) -> Result<(), Error> {
    get(app, &who.org_id).await?;
    passwords::confirm(app, &who.user, password).await?;
    let event = who
        .actor
        .event(Some(&who.org_id), "sso.deleted", None, json!({}));
    match app.store.delete_sso_settings(&who.org_id, &event).await {
        Err(StoreError::NotFound) => Err(Error::NotFound),
        other => Ok(other?),
    }
}
