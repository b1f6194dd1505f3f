//! Security, under the user (not an organization): change the password, see
//! the sessions one is signed in with and sign any of them out, and the
//! passkeys (added and removed in `passkeys.rs`).

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::service::{account, passkeys};
use crate::ui::Pages;
use crate::ui::extract::{CurrentUser, FormBody, PageError, see_other};
use crate::ui::layout::{render_status, when};

use super::check_form;
use super::personal::sentence;

pub struct SessionRow {
    pub session_id: String,
    pub created: String,
    pub last_seen: String,
    pub ip: String,
    pub user_agent: String,
    pub current: bool,
}

pub struct PasskeyRow {
    pub passkey_id: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "security.html")]
pub struct SecurityPage {
    pub email: String,
    pub csrf: String,
    pub sessions: Vec<SessionRow>,
    pub passkeys: Vec<PasskeyRow>,
    pub notice: Option<&'static str>,
    pub error: Option<String>,
}

pub(super) async fn security_page(
    app: &Pages,
    me: &CurrentUser,
    notice: Option<&'static str>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let sessions = account::sessions(app, &me.user.user_id)
        .await?
        .iter()
        .map(|s| SessionRow {
            session_id: s.session_id.to_string(),
            created: when(s.created_at),
            last_seen: when(s.last_seen_at),
            ip: s.ip.clone().unwrap_or_default(),
            user_agent: s.user_agent.clone().unwrap_or_default(),
            current: s.session_id == me.session_id,
        })
        .collect();
    let passkeys = passkeys::list(app, &me.user.user_id)
        .await?
        .iter()
        .map(|p| PasskeyRow {
            passkey_id: p.passkey_id.to_string(),
            name: p.name.clone(),
            created: when(p.created_at),
            last_used: p.last_used_at.map(when).unwrap_or_else(|| "Never".into()),
        })
        .collect();
    let page = SecurityPage {
        email: me.user.email.clone(),
        csrf: app.forms.issue(&me.session_hash.to_hex()),
        sessions,
        passkeys,
        notice,
        error,
    };
    Ok(render_status(status, &page))
}

/// `GET /app/security`: change password, sessions.
pub async fn security(
    State(app): State<Pages>,
    me: CurrentUser,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let notice = match q.as_deref() {
        Some("done=password") => Some("Password changed. Your other sessions were signed out."),
        Some("done=ended") => Some("Session signed out."),
        Some("done=passkey-added") => Some("Passkey added. You can sign in with it now."),
        Some("done=passkey-removed") => Some("Passkey removed."),
        _ => None,
    };
    security_page(&app, &me, notice, None, StatusCode::OK).await
}

pub async fn change_password(
    State(app): State<Pages>,
    me: CurrentUser,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &me, &form)?;
    let new_password = form.get("new_password").unwrap_or("");
    if Some(new_password) != form.get("confirm_password") {
        let msg = "The two new passwords are not the same.".to_owned();
        return security_page(&app, &me, None, Some(msg), StatusCode::BAD_REQUEST).await;
    }
    let r = account::change_password(
        &app,
        &me.user,
        &me.actor(),
        &me.session_hash,
        form.get("password"),
        new_password,
    )
    .await;
    match r {
        Ok(()) => Ok(see_other("/app/security?done=password")),
        Err(e) => match sentence(&e) {
            Some(msg) => security_page(&app, &me, None, Some(msg), StatusCode::BAD_REQUEST).await,
            None => Err(e.into()),
        },
    }
}

pub async fn end_session(
    State(app): State<Pages>,
    me: CurrentUser,
    Path(id): Path<String>,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &me, &form)?;
    account::end_session(&app, &me.user, &me.actor(), &id).await?;
    if id == me.session_id.as_str() {
        return Ok(see_other("/app/sign-in").into_response());
    }
    Ok(see_other("/app/security?done=ended"))
}
