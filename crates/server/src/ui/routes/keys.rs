//! Settings → Developer → API keys, as in the reference: Generate, the … menu
//! (Regenerate, Duplicate, Edit, Delete), New scoped API key. Every action asks
//! for the login password; secrets appear only in the page that answers the
//! action's POST, never in a URL, a redirect or a later page.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use keygate_store::{KeyKind, KeyRecord};

use crate::service::key_policy;
use crate::service::keys::{self, LimitChange};
use crate::service::{Error, orgs};
use crate::ui::Pages;
use crate::ui::extract::{FormBody, PageError, see_other};
use crate::ui::pages::{
    AdminRow, ApiKeysPage, KeyInfo, Lifecycle, PolicyWarning, ScopedRow, Shell, render, stamp,
};
use crate::ui::routes::confirm::{Prompt, confirmed, prompt_page};

mod common;
mod form;
mod networks;
pub mod scoped;
use common::{M, key_of, keys_url, reveal};
use form::scope_summary;

pub async fn developer(m: M) -> Response {
    see_other(&keys_url(&m))
}

pub async fn list(
    State(app): State<Pages>,
    m: M,
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
    let now = crate::clock::now_ms();
    let info = |owner: &str| {
        all.iter()
            .find(|k| k.kind == KeyKind::Admin && k.owner_id.as_deref() == Some(owner))
            .map(|k| KeyInfo {
                client_id: k.client_id.to_string(),
                created: stamp(k.created_at),
                updated: stamp(k.updated_at),
                last_used: last_used(k),
                exposed: k.exposed_at.is_some(),
                lifecycle: Lifecycle::of(k, now),
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
                updated: stamp(k.updated_at),
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
    }))
}

fn prompt(m: &M, title: String, body: String, action: String) -> Prompt {
    Prompt {
        title,
        body,
        action,
        button: "Confirm",
        danger: false,
        hidden: Vec::new(),
        back: (keys_url(m), "API keys"),
        nav: "keys",
        grace: false,
    }
}

async fn owner_name(app: &Pages, m: &M, owner_id: &str) -> Result<String, PageError> {
    if owner_id == m.org_id.as_str() {
        let org = orgs::org(app, &m.org_id).await?;
        return Ok(format!("the organization {}", org.name));
    }
    let accounts = orgs::accounts(app, &m.org_id).await?;
    accounts
        .iter()
        .find(|a| a.account_id.as_str() == owner_id)
        .map(|a| format!("the account {}", a.name))
        .ok_or(Error::NotFound.into())
}

fn generate_prompt(m: &M, owner_id: &str, owner: &str) -> Prompt {
    Prompt {
        button: "Generate",
        hidden: vec![("owner_id".into(), owner_id.to_owned())],
        ..prompt(
            m,
            "Generate admin API key".into(),
            format!(
                "Generate the admin API key of {owner}. It reaches every API at that level; you will see it once."
            ),
            format!("{}/generate", keys_url(m)),
        )
    }
}

pub async fn generate_page(
    State(app): State<Pages>,
    m: M,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let q: Vec<(String, String)> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).map_err(|_| Error::NotFound)?;
    let owner_id = q
        .into_iter()
        .find(|(k, _)| k == "owner_id")
        .map(|(_, v)| v)
        .ok_or(Error::NotFound)?;
    let owner = owner_name(&app, &m, &owner_id).await?;
    let page = prompt_page(&app, &m, generate_prompt(&m, &owner_id, &owner), None).await?;
    Ok(render(&page))
}

pub async fn generate(
    State(app): State<Pages>,
    m: M,
    form: FormBody,
) -> Result<Response, PageError> {
    let owner_id = form.get("owner_id").unwrap_or("").to_owned();
    let owner = owner_name(&app, &m, &owner_id).await?;
    let prompt = generate_prompt(&m, &owner_id, &owner);
    let action = async {
        keys::generate_admin(
            &app,
            &m.acting(),
            &owner_id,
            None,
            &Default::default(),
            form.get("password"),
        )
        .await
        .map_err(|e| match e {
            Error::Conflict(_) => Error::Conflict(
                "This admin key already exists. Use Regenerate in its … menu to get a new secret."
                    .into(),
            ),
            e => e,
        })
    };
    match confirmed(&app, &m, &form, prompt, action).await {
        Ok(r) => reveal(&app, &m, "Admin API key generated", r).await,
        Err(page) => Ok(page),
    }
}

fn regenerate_prompt(m: &M, k: &KeyRecord) -> Prompt {
    Prompt {
        title: "Regenerate API key".into(),
        body: format!(
            "“{}” gets a new secret; the client ID stays the same. The old key and every token issued with it stop working when you choose below.",
            k.name
        ),
        action: format!("{}/{}/regenerate", keys_url(m), k.client_id),
        button: "Regenerate",
        danger: true,
        hidden: Vec::new(),
        back: (keys_url(m), "API keys"),
        nav: "keys",
        grace: true,
    }
}

pub async fn regenerate_page(
    State(app): State<Pages>,
    m: M,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, None).await?;
    Ok(render(
        &prompt_page(&app, &m, regenerate_prompt(&m, &k), None).await?,
    ))
}

pub async fn regenerate(
    State(app): State<Pages>,
    m: M,
    Path((_, id)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, None).await?;
    let password = form.get("password");
    let who = m.acting();
    // The dialog's choice (Immediately / 1 hour / 24 hours / 7 days); the
    // service checks the range.
    let grace = form.get("previous_secret_expires_in").unwrap_or("0");
    let options = keys::RotateOptions {
        previous_secret_expires_in: Some(grace.parse().unwrap_or(-1)),
        expires_at: None,
        allowed_networks: None,
    };
    let action = keys::regenerate(&app, &who, &k.client_id, k.kind, &options, password);
    match confirmed(&app, &m, &form, regenerate_prompt(&m, &k), action).await {
        Ok(r) => reveal(&app, &m, "API key regenerated", r).await,
        Err(page) => Ok(page),
    }
}

fn duplicate_prompt(m: &M, k: &KeyRecord) -> Prompt {
    Prompt {
        title: "Duplicate API key".into(),
        body: format!(
            "Create a new key with the same scope as “{}”, with its own client ID and secret.",
            k.name
        ),
        action: format!("{}/{}/duplicate", keys_url(m), k.client_id),
        button: "Duplicate",
        danger: false,
        hidden: Vec::new(),
        back: (keys_url(m), "API keys"),
        nav: "keys",
        grace: false,
    }
}

pub async fn duplicate_page(
    State(app): State<Pages>,
    m: M,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    Ok(render(
        &prompt_page(&app, &m, duplicate_prompt(&m, &k), None).await?,
    ))
}

pub async fn duplicate(
    State(app): State<Pages>,
    m: M,
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

fn delete_prompt(m: &M, k: &KeyRecord) -> Prompt {
    Prompt {
        title: "Delete API key".into(),
        body: format!(
            "“{}” and every token issued with it stop working at once. This cannot be undone.",
            k.name
        ),
        action: format!("{}/{}/delete", keys_url(m), k.client_id),
        button: "Delete",
        danger: true,
        hidden: Vec::new(),
        back: (keys_url(m), "API keys"),
        nav: "keys",
        grace: false,
    }
}

pub async fn delete_page(
    State(app): State<Pages>,
    m: M,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    Ok(render(
        &prompt_page(&app, &m, delete_prompt(&m, &k), None).await?,
    ))
}

pub async fn delete(
    State(app): State<Pages>,
    m: M,
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
