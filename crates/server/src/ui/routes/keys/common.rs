//! What the API-key pages share: the role that may open them, the list's
//! address, the key of the path, and the one page that shows a secret.

use axum::http::{HeaderValue, header};
use axum::response::Response;
use keygate_core::ClientId;
use keygate_store::{KeyKind, KeyRecord};

use crate::service::Error;
use crate::service::keys::{self, Revealed};
use crate::ui::Pages;
use crate::ui::extract::{KeyManager, OrgMember, PageError};
use crate::ui::pages::{RevealPage, Shell, render};

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
