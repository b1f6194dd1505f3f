//! Members and accounts (owner, admin). Every change asks for the login
//! password: a field of the add/create forms, the key actions' dialog (or a
//! prompt page without JavaScript) for a member's row.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use keygate_core::{OrgId, UserId};
use keygate_store::MemberRecord;

use crate::app::{App, AppState};
use crate::http::error::ApiError;
use crate::http::extract::{OrgManager, OrgMember};
use crate::service::keys::confirm_password;
use crate::service::orgs;
use crate::ui::extract::{FormBody, PageError, Ui, see_other};
use crate::ui::pages::{
    AccountRow, AccountsPage, MemberRow, MembersPage, Shell, render, render_status, role_label,
    when,
};
use crate::ui::routes::check_form;
use crate::ui::routes::confirm::{Prompt, confirmed, password_error};

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
