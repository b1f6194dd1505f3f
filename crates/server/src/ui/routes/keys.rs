//! Settings → Developer → API keys, as in the reference: Generate, the … menu
//! (Regenerate, Duplicate, Edit, Delete), New scoped API key. Every action asks
//! for the login password; secrets appear only in the page that answers the
//! action's POST, never in a URL, a redirect or a later page.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use keygate_core::ClientId;
use keygate_store::{KeyKind, KeyRecord};

use crate::app::{App, AppState};
use crate::http::error::ApiError;
use crate::http::extract::{KeyManager, OrgMember};
use crate::service::keys::{self, Revealed, confirm_password};
use crate::ui::extract::{FormBody, PageError, Ui, see_other};
use crate::ui::pages::{
    AdminRow, ApiKeysPage, ConfirmPage, KeyFormPage, KeyInfo, RevealPage, ScopedRow, Shell, render,
    render_status, stamp,
};
use crate::ui::routes::check_form;

mod form;
use form::{FormValues, form_page, scope_summary};

type Member = Ui<OrgMember<KeyManager>>;
type M = OrgMember<KeyManager>;

fn keys_url(m: &M) -> String {
    format!("/app/orgs/{}/settings/developer/api-keys", m.org_id)
}

pub async fn developer(Ui(m): Member) -> Response {
    see_other(&keys_url(&m))
}

pub async fn list(
    State(app): State<AppState>,
    Ui(m): Member,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let notice = match q.as_deref() {
        Some("done=deleted") => Some("API key deleted. It and its tokens no longer work."),
        Some("done=updated") => Some("API key updated. The new scope applies to the next request."),
        _ => None,
    };
    let shell = Shell::load(&app, &m.current, &m.org_id, m.role, "keys").await?;
    let org_name = shell.org_name.clone();
    let mut accounts = app.store.accounts(&m.org_id).await?;
    accounts.sort_by(|a, b| a.name.cmp(&b.name));
    let all = app.store.keys(&m.org_id).await?;
    let info = |owner: &str| {
        all.iter()
            .find(|k| k.kind == KeyKind::Admin && k.owner_id.as_deref() == Some(owner))
            .map(|k| KeyInfo {
                client_id: k.client_id.to_string(),
                created: stamp(k.created_at),
                updated: stamp(k.updated_at),
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
            let (org_scope, account_scope) = scope_summary(&app, &k.scope, &accounts);
            ScopedRow {
                name: k.name.clone(),
                client_id: k.client_id.to_string(),
                org_scope,
                account_scope,
                created: stamp(k.created_at),
                updated: stamp(k.updated_at),
            }
        })
        .collect();
    Ok(render(&ApiKeysPage {
        shell,
        notice,
        admin,
        scoped,
    }))
}

/// The password prompt for one action.
struct Prompt {
    title: String,
    body: String,
    action: String,
    button: &'static str,
    danger: bool,
    owner_id: Option<String>,
}

async fn prompt_page(
    app: &App,
    m: &M,
    p: Prompt,
    error: Option<String>,
) -> Result<ConfirmPage, PageError> {
    Ok(ConfirmPage {
        shell: Shell::load(app, &m.current, &m.org_id, m.role, "keys").await?,
        title: p.title,
        body: p.body,
        action: p.action,
        button: p.button,
        danger: p.danger,
        owner_id: p.owner_id,
        error,
    })
}

/// Checks the form token and the password. `Err(page)` is the prompt again
/// with the error; nothing was changed.
async fn confirmed(app: &App, m: &M, form: &FormBody, p: Prompt) -> Result<(), Response> {
    check_form(app, &m.current, form).map_err(axum::response::IntoResponse::into_response)?;
    let password = form.get("password").map(str::to_owned);
    match confirm_password(app, &m.current.user, password).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let (status, msg) =
                password_error(e).map_err(axum::response::IntoResponse::into_response)?;
            match prompt_page(app, m, p, Some(msg)).await {
                Ok(page) => Err(render_status(status, &page)),
                Err(e) => Err(axum::response::IntoResponse::into_response(e)),
            }
        }
    }
}

/// A failed password confirmation as a message next to the password field.
fn password_error(e: ApiError) -> Result<(StatusCode, String), PageError> {
    match e {
        ApiError::PasswordConfirmationFailed => Ok((
            StatusCode::UNAUTHORIZED,
            "That password is not correct. Nothing was changed.".into(),
        )),
        ApiError::TooManyRequests { retry_after_secs } => Ok((
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many wrong passwords. Try again in {} minute(s).",
                retry_after_secs.div_ceil(60)
            ),
        )),
        ApiError::Busy { .. } => Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is busy. Nothing was changed; try again in a few seconds.".into(),
        )),
        e => Err(PageError(e)),
    }
}

async fn reveal(app: &App, m: &M, title: &'static str, r: Revealed) -> Result<Response, PageError> {
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

async fn owner_name(app: &App, m: &M, owner_id: &str) -> Result<String, PageError> {
    if owner_id == m.org_id.as_str() {
        let org = app.store.org(&m.org_id).await?.ok_or(ApiError::NotFound)?;
        return Ok(format!("the organization {}", org.name));
    }
    let accounts = app.store.accounts(&m.org_id).await?;
    accounts
        .iter()
        .find(|a| a.account_id.as_str() == owner_id)
        .map(|a| format!("the account {}", a.name))
        .ok_or(PageError(ApiError::NotFound))
}

fn generate_prompt(m: &M, owner_id: &str, owner: &str) -> Prompt {
    Prompt {
        title: "Generate admin API key".into(),
        body: format!(
            "Generate the admin API key of {owner}. It reaches every API at that level; you will see it once."
        ),
        action: format!("{}/generate", keys_url(m)),
        button: "Generate",
        danger: false,
        owner_id: Some(owner_id.to_owned()),
    }
}

pub async fn generate_page(
    State(app): State<AppState>,
    Ui(m): Member,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(q.as_deref().unwrap_or(""))
        .map_err(|_| PageError(ApiError::NotFound))?;
    let owner_id = q
        .into_iter()
        .find(|(k, _)| k == "owner_id")
        .map(|(_, v)| v)
        .ok_or(PageError(ApiError::NotFound))?;
    let owner = owner_name(&app, &m, &owner_id).await?;
    let page = prompt_page(&app, &m, generate_prompt(&m, &owner_id, &owner), None).await?;
    Ok(render(&page))
}

pub async fn generate(
    State(app): State<AppState>,
    Ui(m): Member,
    form: FormBody,
) -> Result<Response, PageError> {
    let owner_id = form.get("owner_id").unwrap_or("").to_owned();
    let owner = owner_name(&app, &m, &owner_id).await?;
    if let Err(page) = confirmed(&app, &m, &form, generate_prompt(&m, &owner_id, &owner)).await {
        return Ok(page);
    }
    let r = keys::generate_admin(&app, &m.actor(), &m.org_id, &owner_id)
        .await
        .map_err(|e| match e {
            ApiError::Conflict(_) => PageError(ApiError::Conflict(
                "This admin key already exists. Use Regenerate in its … menu to get a new secret."
                    .into(),
            )),
            e => PageError(e),
        })?;
    reveal(&app, &m, "Admin API key generated", r).await
}

/// The key of the path, of this organization (any other: not found).
async fn key_of(app: &App, m: &M, id: &str, kind: Option<KeyKind>) -> Result<KeyRecord, PageError> {
    let id = ClientId::parse(id).map_err(|_| PageError(ApiError::NotFound))?;
    let key = app
        .store
        .key(&m.org_id, &id)
        .await?
        .ok_or(PageError(ApiError::NotFound))?;
    match kind {
        Some(k) if k != key.kind => Err(PageError(ApiError::NotFound)),
        _ => Ok(key),
    }
}

fn regenerate_prompt(m: &M, k: &KeyRecord) -> Prompt {
    Prompt {
        title: "Regenerate API key".into(),
        body: format!(
            "“{}” gets a new secret. The old key and every token issued with it stop working at once. The client ID stays the same.",
            k.name
        ),
        action: format!("{}/{}/regenerate", keys_url(m), k.client_id),
        button: "Regenerate",
        danger: true,
        owner_id: None,
    }
}

pub async fn regenerate_page(
    State(app): State<AppState>,
    Ui(m): Member,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, None).await?;
    Ok(render(
        &prompt_page(&app, &m, regenerate_prompt(&m, &k), None).await?,
    ))
}

pub async fn regenerate(
    State(app): State<AppState>,
    Ui(m): Member,
    Path((_, id)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, None).await?;
    if let Err(page) = confirmed(&app, &m, &form, regenerate_prompt(&m, &k)).await {
        return Ok(page);
    }
    let r = keys::regenerate(&app, &m.actor(), &m.org_id, &k.client_id, k.kind).await?;
    reveal(&app, &m, "API key regenerated", r).await
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
        owner_id: None,
    }
}

pub async fn duplicate_page(
    State(app): State<AppState>,
    Ui(m): Member,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    Ok(render(
        &prompt_page(&app, &m, duplicate_prompt(&m, &k), None).await?,
    ))
}

pub async fn duplicate(
    State(app): State<AppState>,
    Ui(m): Member,
    Path((_, id)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    if let Err(page) = confirmed(&app, &m, &form, duplicate_prompt(&m, &k)).await {
        return Ok(page);
    }
    let r = keys::duplicate(&app, &m.actor(), &m.org_id, &k.client_id, None).await?;
    reveal(&app, &m, "API key duplicated", r).await
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
        owner_id: None,
    }
}

pub async fn delete_page(
    State(app): State<AppState>,
    Ui(m): Member,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    Ok(render(
        &prompt_page(&app, &m, delete_prompt(&m, &k), None).await?,
    ))
}

pub async fn delete(
    State(app): State<AppState>,
    Ui(m): Member,
    Path((_, id)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    if let Err(page) = confirmed(&app, &m, &form, delete_prompt(&m, &k)).await {
        return Ok(page);
    }
    keys::delete(&app, &m.actor(), &m.org_id, &k.client_id).await?;
    Ok(see_other(&format!("{}?done=deleted", keys_url(&m))))
}

pub async fn new_page(State(app): State<AppState>, Ui(m): Member) -> Result<Response, PageError> {
    let values = FormValues::default();
    let page = form_page(&app, &m, None, values, None).await?;
    Ok(render(&page))
}

pub async fn create(
    State(app): State<AppState>,
    Ui(m): Member,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    let values = FormValues::from_form(&app, &form);
    let again = |e: ApiError| async {
        let status = error_status(&e);
        let page: KeyFormPage = form_page(&app, &m, None, values.clone(), Some(e)).await?;
        Ok::<_, PageError>(render_status(status, &page))
    };
    let password = form.get("password").map(str::to_owned);
    if let Err(e) = confirm_password(&app, &m.current.user, password).await {
        return again(e).await;
    }
    let input = match values.scope_input() {
        Ok(i) => i,
        Err(e) => return again(e).await,
    };
    match keys::create_scoped(&app, &m.actor(), &m.org_id, &values.name, &input).await {
        Ok(r) => reveal(&app, &m, "Scoped API key created", r).await,
        Err(e @ ApiError::Validation { .. }) => again(e).await,
        Err(e) => Err(PageError(e)),
    }
}

fn error_status(e: &ApiError) -> StatusCode {
    match e {
        ApiError::PasswordConfirmationFailed => StatusCode::UNAUTHORIZED,
        ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

pub async fn edit_page(
    State(app): State<AppState>,
    Ui(m): Member,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    let values = FormValues::from_key(&k);
    Ok(render(&form_page(&app, &m, Some(&k), values, None).await?))
}

pub async fn edit(
    State(app): State<AppState>,
    Ui(m): Member,
    Path((_, id)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    check_form(&app, &m.current, &form)?;
    let values = FormValues::from_form(&app, &form);
    let again = |e: ApiError| async {
        let status = error_status(&e);
        let page = form_page(&app, &m, Some(&k), values.clone(), Some(e)).await?;
        Ok::<_, PageError>(render_status(status, &page))
    };
    let password = form.get("password").map(str::to_owned);
    if let Err(e) = confirm_password(&app, &m.current.user, password).await {
        return again(e).await;
    }
    let input = match values.scope_input() {
        Ok(i) => i,
        Err(e) => return again(e).await,
    };
    let result = keys::update(
        &app,
        &m.actor(),
        &m.org_id,
        &k.client_id,
        Some(&values.name),
        Some(input.org_permissions),
        input
            .account_permissions
            .or_else(|| Some(form::no_accounts())),
    )
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("{}?done=updated", keys_url(&m)))),
        Err(e @ ApiError::Validation { .. }) => again(e).await,
        Err(e) => Err(PageError(e)),
    }
}
