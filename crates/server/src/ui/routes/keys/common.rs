//! What the API-key pages share: the role that may open them, the list's
//! address, the key of the path, a key's expiry and grace as the list and the
//! key's page show them, and the one page that shows a secret.

use askama::Template;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use keygate_core::ClientId;
use keygate_store::{KeyKind, KeyRecord};

use crate::service::Error;
use crate::service::keys::{self, Revealed};
use crate::ui::Pages;
use crate::ui::extract::{KeyManager, OrgMember, PageError};
use crate::ui::layout::{Shell, render, when};

/// A key's expiry and grace period, as the list shows them.
pub struct Lifecycle {
    /// "Expired 12 May 2026, 09:30 UTC" or "Expires …"; `None`: never expires.
    pub expiry: Option<String>,
    pub expired: bool,
    /// "Old secret works until …" while a grace period lasts.
    pub grace: Option<String>,
}

impl Lifecycle {
    pub fn of(k: &keygate_store::KeyRecord, now: i64) -> Lifecycle {
        let expired = k.expires_at.is_some_and(|t| t <= now);
        Lifecycle {
            expiry: k.expires_at.map(|t| {
                format!(
                    "{} {}",
                    if expired { "Expired" } else { "Expires" },
                    when(t)
                )
            }),
            expired,
            grace: k
                .previous_secret
                .filter(|p| p.expires_at > now && !expired)
                .map(|p| format!("Old secret works until {}", when(p.expires_at))),
        }
    }
}

#[derive(Template)]
#[template(path = "reveal.html")]
pub struct RevealPage {
    pub shell: Shell,
    pub title: &'static str,
    pub name: String,
    pub client_id: String,
    pub api_key: String,
    /// After a regenerate: until when the old secret works.
    pub old_key: Option<String>,
    /// Where this Keygate answers (`--public-url`, else the address it
    /// listens on), for the curl example.
    pub base_url: String,
}

pub type KeyManagerMember = OrgMember<KeyManager>;

pub fn keys_url(m: &KeyManagerMember) -> String {
    format!("/app/orgs/{}/settings/developer/api-keys", m.org_id)
}

pub async fn reveal(
    app: &Pages,
    m: &KeyManagerMember,
    title: &'static str,
    r: Revealed,
) -> Result<Response, PageError> {
    let page = RevealPage {
        shell: Shell::load(app, &m.current, &m.org_id, m.role, "keys").await?,
        title,
        name: r.key.name.clone(),
        client_id: r.key.client_id.to_string(),
        api_key: r.api_key.expose().to_owned(),
        old_key: (r.key.generation > 1).then(|| match &r.key.previous_secret {
            Some(p) if p.expires_at > crate::state::clock::now_ms() => format!(
                "The old key and the tokens issued with it keep working until {}; then only this key works.",
                crate::ui::layout::when(p.expires_at)
            ),
            _ => "The old key and every token issued with it have stopped working.".to_owned(),
        }),
        base_url: match app.settings.notify.public_url.as_str() {
            "" => "<your Keygate URL>".to_owned(),
            u => u.to_owned(),
        },
    };
    let mut resp = render(&page);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The key of the path, of this organization (any other: not found).
pub async fn key_of(
    app: &Pages,
    m: &KeyManagerMember,
    id: &str,
    kind: Option<KeyKind>,
) -> Result<KeyRecord, PageError> {
    let id = ClientId::parse(id).map_err(|_| Error::NotFound)?;
    Ok(match kind {
        Some(kind) => keys::get(app, &m.org_id, &id, kind).await?,
        None => keys::find(app, &m.org_id, &id).await?,
    })
}
