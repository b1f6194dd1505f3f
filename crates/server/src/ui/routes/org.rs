//! Settings overview, the audit log, members and accounts.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use keygate_core::{ClientId, OrgId, UserId};
use keygate_store::AuditEvent;
use serde_json::Value;

use crate::service::{Error, audit as audit_log, invitations, keys as key_service, orgs};
use crate::ui::Pages;
use crate::ui::extract::{
    AnyMember, FormBody, KeyManager, OrgManager, OrgMember, PageError, see_other,
};
use crate::ui::pages::{
    AccountRow, AccountsPage, AuditPage, AuditRow, InvitationRow, KeyChoice, MemberRow,
    MembersPage, SettingsPage, Shell, render, render_status, role_label, when,
};
use crate::ui::routes::check_form;

pub async fn settings(
    State(app): State<Pages>,
    m: OrgMember<AnyMember>,
) -> Result<Response, PageError> {
    let shell = Shell::load(&app, &m.current, &m.org_id, m.role, "settings").await?;
    let accounts = orgs::accounts(&app, &m.org_id).await?.len();
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
    State(app): State<Pages>,
    m: OrgMember<KeyManager>,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let q: Vec<(String, String)> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let filter = param(&q, "client_id").and_then(|c| ClientId::parse(&c).ok());
    let before = param(&q, "before").and_then(|b| b.parse::<i64>().ok());
    let shell = Shell::load(&app, &m.current, &m.org_id, m.role, "audit").await?;
    let keys = key_service::list(&app, &m.org_id).await?;
    let events = audit_log::events(&app, &m.org_id, filter.clone(), before, AUDIT_PAGE).await?;
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

type Manager = OrgMember<OrgManager>;

async fn members_page(
    app: &Pages,
    m: &OrgMember<OrgManager>,
    notice: Option<&'static str>,
    error: Option<String>,
    email: String,
) -> Result<MembersPage, PageError> {
    let shell = Shell::load(app, &m.current, &m.org_id, m.role, "members").await?;
    let rows = orgs::members(app, &m.org_id)
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
    let invitations = invitations::pending(app, &m.org_id)
        .await?
        .iter()
        .map(|i| InvitationRow {
            invitation_id: i.invitation_id.to_string(),
            email: i.email.clone(),
            role: role_label(i.role),
            expires: when(i.expires_at),
        })
        .collect();
    Ok(MembersPage {
        shell,
        notice,
        rows,
        invitations,
        error,
        email,
    })
}

fn message(e: &Error) -> Option<String> {
    match e {
        Error::Invalid { message, .. } => Some(message.clone()),
        Error::Conflict(m) => Some(m.clone()),
        Error::NotAllowed(m) => Some((*m).to_owned()),
        Error::PasswordRejected => {
            Some("Your login password was not correct; nothing was changed.".to_owned())
        }
        Error::NotFound => Some("That invitation or member no longer exists.".to_owned()),
        _ => None,
    }
}

/// A member action that failed on its input: the page again with the message.
async fn members_error(
    app: &Pages,
    m: &OrgMember<OrgManager>,
    e: Error,
    email: String,
) -> Result<Response, PageError> {
    let Some(msg) = message(&e) else {
        return Err(e.into());
    };
    let mut msg = msg;
    if let Some(f) = msg.get(..1) {
        msg = f.to_uppercase() + &msg[1..];
    }
    let page = members_page(app, m, None, Some(msg), email).await?;
    Ok(render_status(StatusCode::BAD_REQUEST, &page))
}

pub async fn members(
    State(app): State<Pages>,
    m: Manager,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let notice = match q.as_deref() {
        Some("done=invited") => Some("Invitation sent. The link works once, for 7 days."),
        Some("done=withdrawn") => Some("Invitation withdrawn."),
        Some("done=role") => Some("Role changed."),
        Some("done=removed") => Some("Member removed."),
        _ => None,
    };
    Ok(render(
        &members_page(&app, &m, notice, None, String::new()).await?,
    ))
}

fn members_url(org: &OrgId) -> String {
    format!("/app/orgs/{org}/settings/members")
}

/// Invites someone; the link goes by mail.
pub async fn invite(
    State(app): State<Pages>,
    m: Manager,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    let email = form.get("email").unwrap_or("");
    let role = form.get("role").unwrap_or("");
    match invitations::invite(&app, &m.acting(), email, role, form.get("password")).await {
        Ok(_) => Ok(see_other(&format!(
            "{}?done=invited",
            members_url(&m.org_id)
        ))),
        Err(e) => members_error(&app, &m, e, email.to_owned()).await,
    }
}

pub async fn withdraw(
    State(app): State<Pages>,
    m: Manager,
    Path((_, id)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    match invitations::withdraw(&app, &m.acting(), &id, form.get("password")).await {
        Ok(()) => Ok(see_other(&format!(
            "{}?done=withdrawn",
            members_url(&m.org_id)
        ))),
        Err(e) => members_error(&app, &m, e, String::new()).await,
    }
}

fn user_id(s: &str) -> Result<UserId, PageError> {
    UserId::parse(s).map_err(|_| Error::NotFound.into())
}

pub async fn change_role(
    State(app): State<Pages>,
    m: Manager,
    Path((_, user)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    let role = form.get("role").unwrap_or("");
    match orgs::set_role(
        &app,
        &m.acting(),
        &user_id(&user)?,
        role,
        form.get("password"),
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("{}?done=role", members_url(&m.org_id)))),
        Err(e) => members_error(&app, &m, e, String::new()).await,
    }
}

pub async fn remove_member(
    State(app): State<Pages>,
    m: Manager,
    Path((_, user)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    match orgs::remove(&app, &m.acting(), &user_id(&user)?, form.get("password")).await {
        Ok(()) => Ok(see_other(&format!(
            "{}?done=removed",
            members_url(&m.org_id)
        ))),
        Err(e) => members_error(&app, &m, e, String::new()).await,
    }
}

async fn accounts_page(
    app: &Pages,
    m: &OrgMember<OrgManager>,
    notice: Option<&'static str>,
    error: Option<String>,
    name: String,
) -> Result<AccountsPage, PageError> {
    let shell = Shell::load(app, &m.current, &m.org_id, m.role, "accounts").await?;
    let rows = orgs::accounts(app, &m.org_id)
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
        error,
        name,
    })
}

pub async fn accounts(
    State(app): State<Pages>,
    m: Manager,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let notice = (q.as_deref() == Some("done=created")).then_some("Account created.");
    Ok(render(
        &accounts_page(&app, &m, notice, None, String::new()).await?,
    ))
}

pub async fn create_account(
    State(app): State<Pages>,
    m: Manager,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    let name = form.get("name").unwrap_or("");
    match orgs::create_account(&app, &m.acting(), name).await {
        Ok(_) => Ok(see_other(&format!(
            "/app/orgs/{}/settings/accounts?done=created",
            m.org_id
        ))),
        Err(Error::Invalid { message, .. }) => {
            let msg = format!("Account name {message}.");
            let page = accounts_page(&app, &m, None, Some(msg), name.to_owned()).await?;
            Ok(render_status(StatusCode::BAD_REQUEST, &page))
        }
        Err(e) => Err(e.into()),
    }
}
