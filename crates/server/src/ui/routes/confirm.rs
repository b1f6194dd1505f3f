//! The password prompt that guards every change in the app (key actions,
//! member changes, accounts): a page of its own without JavaScript, the same
//! form in a dialog with it. The check is the API's (`confirm_password`, with
//! its per-user failure limit).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::http::error::ApiError;
use crate::http::extract::{CurrentUser, OrgMember};
use crate::service::keys::confirm_password;
use crate::ui::extract::{FormBody, PageError};
use crate::ui::pages::{ConfirmPage, Shell, render_status};
use crate::ui::routes::check_form;

/// The password prompt for one action.
pub struct Prompt {
    pub title: String,
    pub body: String,
    pub action: String,
    pub button: &'static str,
    pub danger: bool,
    /// Form fields the action needs besides the password (e.g. the new role).
    pub hidden: Vec<(String, String)>,
    /// Where Cancel leads, and the page's name in the breadcrumb.
    pub back: (String, &'static str),
    /// The app's section, for the navigation.
    pub nav: &'static str,
}

pub async fn prompt_page<R>(
    app: &App,
    m: &OrgMember<R>,
    p: Prompt,
    error: Option<String>,
) -> Result<ConfirmPage, PageError> {
    Ok(ConfirmPage {
        shell: Shell::load(app, &m.current, &m.org_id, m.role, p.nav).await?,
        title: p.title,
        body: p.body,
        action: p.action,
        button: p.button,
        danger: p.danger,
        hidden: p.hidden,
        back: p.back.0,
        back_label: p.back.1,
        error,
    })
}

/// Checks the form token and the password. `Err(page)` is the prompt again
/// (with the error when a password was given); nothing was changed. A form
/// sent without a password field at all (no JavaScript, the row's own
/// button) gets the prompt without counting a failure.
pub async fn confirmed<R>(
    app: &App,
    m: &OrgMember<R>,
    form: &FormBody,
    p: Prompt,
) -> Result<(), Response> {
    check_form(app, &m.current, form).map_err(IntoResponse::into_response)?;
    let Some(password) = form.get("password").map(str::to_owned) else {
        return match prompt_page(app, m, p, None).await {
            Ok(page) => Err(render_status(StatusCode::OK, &page)),
            Err(e) => Err(e.into_response()),
        };
    };
    match check_password(app, &m.current, password).await {
        Ok(()) => Ok(()),
        Err(Ok((status, msg))) => match prompt_page(app, m, p, Some(msg)).await {
            Ok(page) => Err(render_status(status, &page)),
            Err(e) => Err(e.into_response()),
        },
        Err(Err(e)) => Err(e.into_response()),
    }
}

/// The password check with its failure as a message for the field
/// (`Err(Ok(..))`), or as an error page (`Err(Err(..))`).
pub async fn check_password(
    app: &App,
    me: &CurrentUser,
    password: String,
) -> Result<(), Result<(StatusCode, String), PageError>> {
    confirm_password(app, &me.user, Some(password))
        .await
        .map_err(password_error)
}

/// A failed password confirmation as a message next to the password field.
pub fn password_error(e: ApiError) -> Result<(StatusCode, String), PageError> {
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
        e => Err(PageError(e)),
    }
}
