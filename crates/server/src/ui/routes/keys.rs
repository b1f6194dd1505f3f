//! Settings → Developer → API keys, as in the reference: Generate, the … menu
//! (Regenerate, Duplicate, Edit, Delete), New scoped API key. Every action asks
//! for the login password; secrets appear only in the page that answers the
//! action's POST, never in a URL, a redirect or a later page.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use keygate_core::ClientId;
use keygate_store::{KeyKind, KeyRecord};

use crate::service::key_policy;
use crate::service::keys::{self, KeyChanges, LimitChange, Revealed};
use crate::service::{Error, orgs};
use crate::ui::Pages;
use crate::ui::extract::{FormBody, KeyManager, OrgMember, PageError, see_other};
use crate::ui::pages::{
    AdminRow, ApiKeysPage, KeyFormPage, KeyInfo, Lifecycle, PolicyWarning, RevealPage, ScopedRow,
    Shell, render, render_status, stamp,
};
use crate::ui::routes::check_form;
use crate::ui::routes::confirm::{Prompt, confirmed, prompt_page};

mod form;
use crate::ui::routes::confirm::password_error;
use form::{FormValues, form_page, scope_summary};

type M = OrgMember<KeyManager>;

fn keys_url(m: &M) -> String {
    format!("/app/orgs/{}/settings/developer/api-keys", m.org_id)
}

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

async fn reveal(
    app: &Pages,
    m: &M,
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

/// The key of the path, of this organization (any other: not found).
async fn key_of(
    app: &Pages,
    m: &M,
    id: &str,
    kind: Option<KeyKind>,
) -> Result<KeyRecord, PageError> {
    let id = ClientId::parse(id).map_err(|_| Error::NotFound)?;
    Ok(match kind {
        Some(kind) => keys::get(app, &m.org_id, &id, kind).await?,
        None => keys::find(app, &m.org_id, &id).await?,
    })
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

pub async fn new_page(State(app): State<Pages>, m: M) -> Result<Response, PageError> {
    let values = FormValues::default();
    let page = form_page(&app, &m, None, values, None).await?;
    Ok(render(&page))
}

pub async fn create(State(app): State<Pages>, m: M, form: FormBody) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    let values = FormValues::from_form(&app, &form);
    let password = form.get("password");
    let result = match values.scope_input().and_then(|i| Ok((i, values.terms()?))) {
        Ok((mut input, terms)) => {
            input.expires_at = values.expires_at_input();
            keys::create_scoped(
                &app,
                &m.acting(),
                &values.name,
                &input,
                None,
                &terms,
                password,
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => reveal(&app, &m, "Scoped API key created", r).await,
        Err(e) => form_again(&app, &m, None, values, e).await,
    }
}

/// The form again with the error next to its field; nothing was changed.
async fn form_again(
    app: &Pages,
    m: &M,
    key: Option<&KeyRecord>,
    values: FormValues,
    e: Error,
) -> Result<Response, PageError> {
    let status = match (&e, password_error(&e)) {
        (Error::Invalid { .. }, _) => StatusCode::BAD_REQUEST,
        (_, Some((status, _))) => status,
        (_, None) => return Err(e.into()),
    };
    let page: KeyFormPage = form_page(app, m, key, values, Some(e)).await?;
    Ok(render_status(status, &page))
}

pub async fn edit_page(
    State(app): State<Pages>,
    m: M,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    let values = FormValues::from_key(&k);
    Ok(render(&form_page(&app, &m, Some(&k), values, None).await?))
}

pub async fn edit(
    State(app): State<Pages>,
    m: M,
    Path((_, id)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    check_form(&app, &m.current, &form)?;
    let values = FormValues::from_form(&app, &form);
    let password = form.get("password");
    let result = match values.scope_input().and_then(|i| Ok((i, values.terms()?))) {
        Ok((input, terms)) => {
            let changes = KeyChanges {
                name: Some(values.name.clone()),
                org_permissions: Some(input.org_permissions),
                account_permissions: input
                    .account_permissions
                    .or_else(|| Some(form::no_accounts())),
                rate_limit: LimitChange::Keep,
                // Unchanged (even when already past) is kept; empty clears.
                expires_at: (!values.same_expiry(&k)).then(|| values.expires_at_input()),
                allowed_networks: terms.allowed_networks,
            };
            keys::update(&app, &m.acting(), &k.client_id, changes, password).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("{}?done=updated", keys_url(&m)))),
        Err(e) => form_again(&app, &m, Some(&k), values, e).await,
    }
}
