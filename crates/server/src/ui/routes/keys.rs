//! Settings → Developer → API keys, as in the reference: Generate, the … menu
//! (Regenerate, Duplicate, Edit, Delete; an admin key's Edit rate limit), New
//! scoped API key. Generate and Regenerate are in `admin`. Every action asks
//! for the login password; secrets appear only in the page that answers the
//! action's POST, never in a URL, a redirect or a later page.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use keygate_store::{KeyKind, KeyRecord};

use crate::service::key_policy;
use crate::service::keys::{self, LimitChange};
use crate::service::orgs;
use crate::ui::Pages;
use crate::ui::extract::{FormBody, PageError, see_other};
use crate::ui::key_terms::TermsFields;
use crate::ui::layout::{Shell, Stamp, render, stamp};
use crate::ui::routes::confirm::{Prompt, confirmed, prompt_page};

pub mod admin;
pub(super) mod common;
mod credits;
mod federation;
pub(super) mod form;
pub mod limit;
mod networks;
pub mod scoped;
use common::{KeyManagerMember, Lifecycle, key_of, keys_url, reveal};
use form::scope_summary;

pub struct KeyInfo {
    pub client_id: String,
    pub created: Stamp,
    /// As of the last flush of the usage recorder.
    pub last_used: Option<Stamp>,
    /// Reported leaked (the organization notifies instead of revoking).
    pub exposed: bool,
    pub lifecycle: Lifecycle,
    /// Its expiry, allowlist and rate limit as the Regenerate dialog starts.
    pub terms: TermsFields,
}

pub struct AdminRow {
    pub level: &'static str,
    pub name: String,
    pub owner_id: String,
    pub key: Option<KeyInfo>,
}

pub struct ScopedRow {
    pub name: String,
    pub client_id: String,
    pub org_scope: String,
    pub account_scope: String,
    pub created: Stamp,
    pub last_used: Option<Stamp>,
    /// Reported leaked (the organization notifies instead of revoking).
    pub exposed: bool,
    pub lifecycle: Lifecycle,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
pub struct ApiKeysPage {
    pub shell: Shell,
    pub notice: Option<&'static str>,
    pub admin: Vec<AdminRow>,
    pub scoped: Vec<ScopedRow>,
    /// Keys that break the organization's key policy (set after they were made).
    pub breaking: Vec<PolicyWarning>,
    /// The empty key fields of the password dialog (admin keys' Generate and
    /// Regenerate; app.js fills in a key's values).
    pub terms: TermsFields,
}

pub struct PolicyWarning {
    pub name: String,
    pub client_id: String,
    pub why: String,
}

pub async fn developer(m: KeyManagerMember) -> Response {
    see_other(&keys_url(&m))
}

pub async fn list(
    State(app): State<Pages>,
    m: KeyManagerMember,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let notice = match q.as_deref() {
        Some("done=deleted") => Some("API key deleted. It and its tokens no longer work."),
        Some("done=updated") => Some("API key updated. The new scope applies to the next request."),
        _ => None,
    };
    let shell = Shell::load(&app, &m.current, &m.org_id, m.role, "keys").await?;
    let org_name = shell.org_name.clone();
    let mut accounts = orgs::accounts(&app, &m.org_id).await?;
    accounts.sort_by(|a, b| a.name.cmp(&b.name));
    let all = keys::list(&app, &m.org_id).await?;
    let used = crate::service::usage::last_used(&app, &m.org_id).await?;
    let last_used = |k: &KeyRecord| used.get(&k.client_id).map(|u| stamp(u.at));
    let now = crate::state::clock::now_ms();
    let org_default = orgs::rate_limit(&app, &m.org_id).await?;
    let info = |owner: &str| {
        all.iter()
            .find(|k| k.kind == KeyKind::Admin && k.owner_id.as_deref() == Some(owner))
            .map(|k| KeyInfo {
                client_id: k.client_id.to_string(),
                created: stamp(k.created_at),
                last_used: last_used(k),
                exposed: k.exposed_at.is_some(),
                lifecycle: Lifecycle::of(k, now),
                terms: TermsFields::of_key(k, org_default),
            })
    };
    let mut admin = vec![AdminRow {
        level: "Organization",
        name: org_name,
        owner_id: m.org_id.to_string(),
        key: info(m.org_id.as_str()),
    }];
    admin.extend(accounts.iter().map(|a| AdminRow {
        level: "Account",
        name: a.name.clone(),
        owner_id: a.account_id.to_string(),
        key: info(a.account_id.as_str()),
    }));
    let scoped = all
        .iter()
        .filter(|k| k.kind == KeyKind::Scoped)
        .map(|k| {
            let (org_scope, account_scope) = scope_summary(&k.scope, &accounts);
            ScopedRow {
                name: k.name.clone(),
                client_id: k.client_id.to_string(),
                org_scope,
                account_scope,
                created: stamp(k.created_at),
                last_used: last_used(k),
                exposed: k.exposed_at.is_some(),
                lifecycle: Lifecycle::of(k, now),
            }
        })
        .collect();
    // Keys made before the organization's key policy that break it: listed
    // with a warning, not changed.
    let policy = key_policy::get(&app, &m.org_id).await?;
    let breaking = key_policy::breaking_keys(&app, &m.org_id, &policy)
        .await?
        .into_iter()
        .map(|b| PolicyWarning {
            name: b.name,
            client_id: b.client_id.to_string(),
            why: b.messages.join("; "),
        })
        .collect();
    Ok(render(&ApiKeysPage {
        shell,
        notice,
        admin,
        scoped,
        breaking,
        terms: TermsFields::blank(org_default),
    }))
}

fn prompt(m: &KeyManagerMember, title: String, body: String, action: String) -> Prompt {
    Prompt {
        title,
        body,
        action,
        button: "Confirm",
        danger: false,
        hidden: Vec::new(),
        back: (keys_url(m), "API keys"),
        nav: "keys",
        grace: None,
        terms: None,
    }
}

fn duplicate_prompt(m: &KeyManagerMember, k: &KeyRecord) -> Prompt {
    let body = format!(
        "Create a new key with the same scope as “{}”, with its own client ID and secret.",
        k.name
    );
    let action = format!("{}/{}/duplicate", keys_url(m), k.client_id);
    Prompt {
        button: "Duplicate",
        ..prompt(m, "Duplicate API key".into(), body, action)
    }
}

pub async fn duplicate_page(
    State(app): State<Pages>,
    m: KeyManagerMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    Ok(render(
        &prompt_page(&app, &m, duplicate_prompt(&m, &k), None).await?,
    ))
}

pub async fn duplicate(
    State(app): State<Pages>,
    m: KeyManagerMember,
    Path((_, id)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    let password = form.get("password");
    let who = m.acting();
    let terms = Default::default();
    let action = keys::duplicate(
        &app,
        &who,
        &k.client_id,
        None,
        LimitChange::Keep,
        &terms,
        password,
    );
    match confirmed(&app, &m, &form, duplicate_prompt(&m, &k), action).await {
        Ok(r) => reveal(&app, &m, "API key duplicated", r).await,
        Err(page) => Ok(page),
    }
}

fn delete_prompt(m: &KeyManagerMember, k: &KeyRecord) -> Prompt {
    let body = format!(
        "“{}” and every token issued with it stop working at once. This cannot be undone.",
        k.name
    );
    let action = format!("{}/{}/delete", keys_url(m), k.client_id);
    Prompt {
        button: "Delete",
        danger: true,
        ..prompt(m, "Delete API key".into(), body, action)
    }
}

pub async fn delete_page(
    State(app): State<Pages>,
    m: KeyManagerMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    Ok(render(
        &prompt_page(&app, &m, delete_prompt(&m, &k), None).await?,
    ))
}

pub async fn delete(
    State(app): State<Pages>,
    m: KeyManagerMember,
    Path((_, id)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    let who = m.acting();
    let action = keys::delete(&app, &who, &k.client_id, form.get("password"));
    match confirmed(&app, &m, &form, delete_prompt(&m, &k), action).await {
        Ok(()) => Ok(see_other(&format!("{}?done=deleted", keys_url(&m)))),
        Err(page) => Ok(page),
    }
}
