//! Settings overview, the audit log, members and accounts.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use keygate_core::{ClientId, OrgId, UserId};
use keygate_store::{AuditEvent, AuditQuery, MemberRecord};
use serde_json::Value;

use crate::app::{App, AppState};
use crate::http::error::ApiError;
use crate::http::extract::{AnyMember, KeyManager, OrgManager, OrgMember};
use crate::service::keys::confirm_password;
use crate::service::orgs;
use crate::ui::extract::{FormBody, PageError, Ui, see_other};
use crate::ui::pages::{
    AccountRow, AccountsPage, AuditPage, AuditRow, KeyChoice, MemberRow, MembersPage, SettingsPage,
    Shell, render, render_status, role_label, when,
};
use crate::ui::routes::check_form;
use crate::ui::routes::confirm::{Prompt, confirmed, password_error};

pub async fn settings(
    State(app): State<AppState>,
    Ui(m): Ui<OrgMember<AnyMember>>,
) -> Result<Response, PageError> {
    let shell = Shell::load(&app, &m.current, &m.org_id, m.role, "settings").await?;
    let accounts = app.store.accounts(&m.org_id).await?.len();
    Ok(render(&SettingsPage { shell, accounts }))
}

const AUDIT_PAGE: u32 = 50;

/// Top-level details of an event in one line: `name: CI deploy · role: admin`.
fn details_line(v: &Value) -> String {
    let Some(obj) = v.as_object() else {
        return String::new();
    };
    let plain = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    obj.iter()
        .filter_map(|(k, v)| match (plain(v), v.get("before"), v.get("after")) {
            (Some(s), _, _) => Some(format!("{k}: {s}")),
            (None, Some(b), Some(a)) => match (plain(b), plain(a)) {
                (Some(b), Some(a)) if a == b => None,
                (Some(b), Some(a)) => Some(format!("{k}: {b} → {a}")),
                _ if a != b => Some(format!("{k}: changed")),
                _ => None,
            },
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn param(q: &[(String, String)], name: &str) -> Option<String> {
    q.iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.clone())
}

pub async fn audit(
    State(app): State<AppState>,
    Ui(m): Ui<OrgMember<KeyManager>>,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let q: Vec<(String, String)> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let filter = param(&q, "client_id").and_then(|c| ClientId::parse(&c).ok());
    let before = param(&q, "before").and_then(|b| b.parse::<i64>().ok());
    let shell = Shell::load(&app, &m.current, &m.org_id, m.role, "audit").await?;
    let keys = app.store.keys(&m.org_id).await?;
    let events = app
        .store
        .audit_events(&AuditQuery {
            org_id: m.org_id.clone(),
            client_id: filter.clone(),
            before,
            limit: AUDIT_PAGE,
        })
        .await?;
    let key_name = |e: &AuditEvent| {
        let id = e.client_id.as_ref()?;
        keys.iter()
            .find(|k| &k.client_id == id)
            .map(|k| k.name.clone())
            .or_else(|| e.details["name"].as_str().map(str::to_owned))
    };
    let rows = events
        .iter()
        .map(|e| AuditRow {
            when: when(e.occurred_at),
            action: e.action.clone(),
            actor: e.actor_email.clone().unwrap_or_else(|| "Keygate".into()),
            client_id: e
                .client_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            key_name: key_name(e).unwrap_or_default(),
            ip: e.source_ip.clone().unwrap_or_default(),
            details: details_line(&e.details),
        })
        .collect();
    let filter_s = filter.as_ref().map(ToString::to_string).unwrap_or_default();
    let next = (events.len() == AUDIT_PAGE as usize)
        .then(|| events.last().map(|e| e.seq))
        .flatten()
        .map(|seq| {
            format!(
                "{}/developer/audit-log?client_id={filter_s}&before={seq}",
                shell.base()
            )
        });
    let choices = keys
        .iter()
        .map(|k| KeyChoice {
            client_id: k.client_id.to_string(),
            label: format!("{} ({})", k.name, k.client_id),
            selected: filter.as_ref() == Some(&k.client_id),
        })
        .collect();
    Ok(render(&AuditPage {
        shell,
        keys: choices,
        filter: filter_s,
        rows,
        next,
    }))
}

type Manager = Ui<OrgMember<OrgManager>>;
type M = OrgMember<OrgManager>;

/// What a members or accounts page shows after a failed action.
#[derive(Default)]
struct Failed {
    error: Option<String>,
    password_error: Option<String>,
    /// What the user typed, shown again.
    value: String,
}

async fn members_page(
    app: &App,
    m: &M,
    notice: Option<&'static str>,
    failed: Failed,
) -> Result<MembersPage, PageError> {
    let shell = Shell::load(app, &m.current, &m.org_id, m.role, "members").await?;
    let rows = app
        .store
        .members(&m.org_id)
        .await?
        .iter()
        .map(|r| MemberRow {
            user_id: r.user_id.to_string(),
            email: r.email.clone(),
            role: role_label(r.role),
            role_value: r.role.as_str(),
            owner: r.role == keygate_core::Role::Owner,
            me: r.user_id == m.current.user.user_id,
            joined: when(r.created_at),
        })
        .collect();
    Ok(MembersPage {
        shell,
        notice,
        rows,
        error: failed.error,
        password_error: failed.password_error,
        email: failed.value,
    })
}

/// A failed action as a message for the page (a wrong password beside the
/// password field), with its status; other errors become an error page.
fn failure(e: ApiError, value: &str) -> Result<(StatusCode, Failed), PageError> {
    let value = value.to_owned();
    let msg = match e {
        ApiError::Validation { message, .. } => message,
        ApiError::Conflict(m) => m,
        ApiError::Forbidden(m) => m.to_owned(),
        e @ (ApiError::PasswordConfirmationFailed | ApiError::TooManyRequests { .. }) => {
            let (status, msg) = password_error(e)?;
            let failed = Failed {
                password_error: Some(msg),
                value,
                ..Failed::default()
            };
            return Ok((status, failed));
        }
        e => return Err(PageError(e)),
    };
    let mut chars = msg.chars();
    let msg = chars
        .next()
        .map(|f| f.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    let failed = Failed {
        error: Some(msg),
        value,
        ..Failed::default()
    };
    Ok((StatusCode::BAD_REQUEST, failed))
}

/// A member action that failed: the page again with the message.
async fn members_error(app: &App, m: &M, e: ApiError, email: &str) -> Result<Response, PageError> {
    let (status, failed) = failure(e, email)?;
    let page = members_page(app, m, None, failed).await?;
    Ok(render_status(status, &page))
}

pub async fn members(
    State(app): State<AppState>,
    Ui(m): Manager,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let notice = match q.as_deref() {
        Some("done=added") => Some("Member added."),
        Some("done=role") => Some("Role changed."),
        Some("done=removed") => Some("Member removed."),
        _ => None,
    };
    let page = members_page(&app, &m, notice, Failed::default()).await?;
    Ok(render(&page))
}

fn members_url(org: &OrgId) -> String {
    format!("/app/orgs/{org}/settings/members")
}

/// The password of the acting user, from the form's own field.
async fn password_ok(app: &App, m: &M, form: &FormBody) -> Result<(), ApiError> {
    let password = form.get("password").map(str::to_owned);
    confirm_password(app, &m.current.user, password).await
}

pub async fn add_member(
    State(app): State<AppState>,
    Ui(m): Manager,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    let email = form.get("email").unwrap_or("");
    let role = form.get("role").unwrap_or("");
    let initial = form.get("initial_password").filter(|p| !p.is_empty());
    if let Err(e) = password_ok(&app, &m, &form).await {
        return members_error(&app, &m, e, email).await;
    }
    match orgs::add_member(&app, &m.actor(), &m.org_id, email, role, initial).await {
        Ok(_) => Ok(see_other(&format!("{}?done=added", members_url(&m.org_id)))),
        Err(e) => members_error(&app, &m, e, email).await,
    }
}

fn user_id(s: &str) -> Result<UserId, PageError> {
    UserId::parse(s).map_err(|_| PageError(ApiError::NotFound))
}

/// The password prompt for a change to one member (a dialog on the list).
fn member_prompt(m: &M, who: &MemberRecord, change: &str, button: &'static str) -> Prompt {
    let (action, title, body, danger) = match change {
        "remove" => (
            "remove",
            "Remove member".to_owned(),
            format!("{} loses access to this organization at once.", who.email),
            true,
        ),
        role => (
            "role",
            "Change role".to_owned(),
            format!("{} becomes {}.", who.email, role_name(role)),
            false,
        ),
    };
    Prompt {
        title,
        body,
        action: format!("{}/{}/{action}", members_url(&m.org_id), who.user_id),
        button,
        danger,
        hidden: match change {
            "remove" => Vec::new(),
            role => vec![("role".into(), role.to_owned())],
        },
        back: (members_url(&m.org_id), "Members"),
        nav: "members",
    }
}

fn role_name(role: &str) -> String {
    keygate_core::Role::parse(role)
        .map(|r| role_label(r).to_owned())
        .unwrap_or_else(|| role.to_owned())
}

pub async fn change_role(
    State(app): State<AppState>,
    Ui(m): Manager,
    Path((_, user)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let who = orgs::member(&app, &m.org_id, &user_id(&user)?).await?;
    let role = form.get("role").unwrap_or("");
    let prompt = member_prompt(&m, &who, role, "Change role");
    if let Err(page) = confirmed(&app, &m, &form, prompt).await {
        return Ok(page);
    }
    match orgs::set_role(&app, &m.actor(), &m.org_id, &who.user_id, role).await {
        Ok(_) => Ok(see_other(&format!("{}?done=role", members_url(&m.org_id)))),
        Err(e) => members_error(&app, &m, e, "").await,
    }
}

pub async fn remove_member(
    State(app): State<AppState>,
    Ui(m): Manager,
    Path((_, user)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let who = orgs::member(&app, &m.org_id, &user_id(&user)?).await?;
    let prompt = member_prompt(&m, &who, "remove", "Remove");
    if let Err(page) = confirmed(&app, &m, &form, prompt).await {
        return Ok(page);
    }
    match orgs::remove(&app, &m.actor(), &m.org_id, &who.user_id).await {
        Ok(()) => Ok(see_other(&format!(
            "{}?done=removed",
            members_url(&m.org_id)
        ))),
        Err(e) => members_error(&app, &m, e, "").await,
    }
}

async fn accounts_page(
    app: &App,
    m: &M,
    notice: Option<&'static str>,
    failed: Failed,
) -> Result<AccountsPage, PageError> {
    let shell = Shell::load(app, &m.current, &m.org_id, m.role, "accounts").await?;
    let rows = app
        .store
        .accounts(&m.org_id)
        .await?
        .iter()
        .map(|a| AccountRow {
            account_id: a.account_id.to_string(),
            name: a.name.clone(),
            created: when(a.created_at),
        })
        .collect();
    Ok(AccountsPage {
        shell,
        notice,
        rows,
        error: failed.error,
        password_error: failed.password_error,
        name: failed.value,
    })
}

pub async fn accounts(
    State(app): State<AppState>,
    Ui(m): Manager,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let notice = (q.as_deref() == Some("done=created")).then_some("Account created.");
    let page = accounts_page(&app, &m, notice, Failed::default()).await?;
    Ok(render(&page))
}

pub async fn create_account(
    State(app): State<AppState>,
    Ui(m): Manager,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    let name = form.get("name").unwrap_or("");
    let result = match password_ok(&app, &m, &form).await {
        Ok(()) => orgs::create_account(&app, &m.actor(), &m.org_id, name).await,
        Err(e) => Err(e),
    };
    let e = match result {
        Ok(_) => {
            return Ok(see_other(&format!(
                "/app/orgs/{}/settings/accounts?done=created",
                m.org_id
            )));
        }
        Err(ApiError::Validation { message, .. }) => {
            ApiError::validation("name", format!("Account name {message}."))
        }
        Err(e) => e,
    };
    let (status, failed) = failure(e, name)?;
    let page = accounts_page(&app, &m, None, failed).await?;
    Ok(render_status(status, &page))
}
