//! Security, under the user (not an organization): change the password, see
//! the sessions one is signed in with and sign any of them out, and the
//! passkeys (added and removed in `passkeys.rs`). In the app's frame
//! (`Shell::personal`), also for someone who belongs to no organization.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};

use crate::service::{account, passkeys};
use crate::ui::Pages;
use crate::ui::extract::{CurrentUser, FormBody, PageError, see_other};
use crate::ui::form_errors::FormErrors;
use crate::ui::layout::{Shell, render_status, when};

use super::check_form;

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
    pub shell: Shell,
    pub sessions: Vec<SessionRow>,
    pub passkeys: Vec<PasskeyRow>,
    pub notice: Option<&'static str>,
    /// The change-password form's errors.
    pub errors: FormErrors,
    /// Why adding or removing a passkey failed, shown in its section.
    pub passkey_error: Option<String>,
}

pub(super) async fn security_page(
    app: &Pages,
    me: &CurrentUser,
    notice: Option<&'static str>,
    errors: FormErrors,
) -> Result<Response, PageError> {
    security_page_with(app, me, notice, errors, None).await
}

/// The Security page with a passkey action's error in the passkeys section
/// (400).
pub(super) async fn security_page_with(
    app: &Pages,
    me: &CurrentUser,
    notice: Option<&'static str>,
    errors: FormErrors,
    passkey_error: Option<String>,
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
        shell: Shell::personal(app, me, "security").await?,
        sessions,
        passkeys,
        notice,
        errors,
        passkey_error,
    };
    let status = match page.passkey_error {
        Some(_) => axum::http::StatusCode::BAD_REQUEST,
        None => page.errors.status(),
    };
    Ok(render_status(status, &page))
}

/// `/app` for someone who belongs to no organization (yet): the app's frame,
/// with what to do.
#[derive(Template)]
#[template(path = "no_organization.html")]
pub struct NoOrganizationPage {
    pub shell: Shell,
}

pub async fn no_organization(app: &Pages, me: &CurrentUser) -> Result<Response, PageError> {
    let page = NoOrganizationPage {
        shell: Shell::personal(app, me, "home").await?,
    };
    Ok(render_status(axum::http::StatusCode::OK, &page))
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
    security_page(&app, &me, notice, FormErrors::new()).await
}

/// Every problem of the form at once (an empty current password, a new one
/// too short, the two not the same); the current password is checked only
/// when the rest is right.
pub async fn change_password(
    State(app): State<Pages>,
    me: CurrentUser,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &me, &form)?;
    let mut errors = FormErrors::new();
    errors.require(
        &form,
        "password",
        "Current password: enter the password you signed in with.",
    );
    errors.new_password(&form, "new_password", "confirm_password");
    if errors.is_empty() {
        let r = account::change_password(
            &app,
            &me.user,
            &me.actor(),
            &me.session_hash,
            form.get("password"),
            form.get("new_password").unwrap_or(""),
        )
        .await;
        match r {
            Ok(()) => return Ok(see_other("/app/security?done=password")),
            Err(crate::service::Error::PasswordRejected) => errors.add(
                "password",
                "Current password: that is not your current password.",
            ),
            Err(e) => errors.place(e, &[("new_password", "new_password", "New password")])?,
        }
    }
    security_page(&app, &me, None, errors).await
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
