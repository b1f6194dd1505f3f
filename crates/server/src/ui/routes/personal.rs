//! Pages for visitors who are not signed in yet: accepting an invitation and
//! resetting a forgotten password. Their form tokens are bound to the
//! pre-session cookie, as on the sign-in page.

use askama::Template;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use keygate_core::crypto::random_base62;

use crate::service::{Error, account, invitations};
use crate::state::app::AppState;
use crate::ui::Pages;
use crate::ui::extract::{
    ClientInfo, FormBody, PRESESSION_COOKIE, PageError, Tls, cookie, see_other, session_cookie,
    set_cookie,
};
use crate::ui::form_errors::FormErrors;
use crate::ui::layout::{render_status, role_label};

#[derive(Template)]
#[template(path = "invitation.html")]
pub struct InvitationPage {
    pub csrf: String,
    pub action: String,
    pub org_name: String,
    pub role: &'static str,
    pub email: String,
    pub errors: FormErrors,
}

#[derive(Template)]
#[template(path = "reset_request.html")]
pub struct ResetRequestPage {
    pub csrf: String,
    pub sent: bool,
}

#[derive(Template)]
#[template(path = "reset.html")]
pub struct ResetPage {
    pub csrf: String,
    pub action: String,
    pub email: String,
    pub errors: FormErrors,
}

/// The pre-session id of this browser, and the cookie to set when it is new.
fn presession(headers: &HeaderMap, tls: bool) -> (String, Option<HeaderValue>) {
    match cookie(headers, PRESESSION_COOKIE, tls).filter(|c| c.len() == 32) {
        Some(p) => (p, None),
        None => {
            let p = random_base62(32);
            let c = set_cookie(PRESESSION_COOKIE, &p, 3600, tls);
            (p, Some(c))
        }
    }
}

fn with_cookie(mut resp: Response, c: Option<HeaderValue>) -> Response {
    if let Some(c) = c {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

fn form_ok(app: &Pages, headers: &HeaderMap, tls: bool, form: &FormBody) -> bool {
    let pre = cookie(headers, PRESESSION_COOKIE, tls).unwrap_or_default();
    app.forms
        .consume(&format!("pre:{pre}"), form.get("csrf"))
        .is_ok()
}

/// What a person can fix, as a sentence on the page; `None` for the rest.
pub fn sentence(e: &Error) -> Option<String> {
    match e {
        Error::Invalid { message, .. } => Some(format!("The password {message}.")),
        Error::Unauthorized => Some("That password is not correct for this account.".into()),
        Error::PasswordRejected => Some("Your current password is not correct.".into()),
        Error::TooManyAttempts { retry_after_secs } => Some(format!(
            "Too many attempts. Try again in {} minute(s).",
            retry_after_secs.div_ceil(60)
        )),
        Error::Conflict(m) => Some(m.clone()),
        _ => None,
    }
}

async fn invitation_page(
    app: &Pages,
    headers: &HeaderMap,
    tls: bool,
    token: &str,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let inv = invitations::by_token(app, token).await?;
    let (pre, c) = presession(headers, tls);
    let page = InvitationPage {
        csrf: app.forms.issue(&format!("pre:{pre}")),
        action: format!("{}{token}", invitations::PATH),
        org_name: inv.org_name,
        role: role_label(inv.role),
        email: inv.email,
        errors,
    };
    Ok(with_cookie(render_status(page.errors.status(), &page), c))
}

/// `GET /app/invitations/{token}`: who invites whom to what, and the password form.
pub async fn invitation(
    State(app): State<Pages>,
    headers: HeaderMap,
    Tls(tls): Tls,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    invitation_page(&app, &headers, tls, &token, FormErrors::new()).await
}

/// Accepts, signs this browser in, and opens the organization.
pub async fn accept(
    State(app): State<Pages>,
    headers: HeaderMap,
    Tls(tls): Tls,
    client: ClientInfo,
    Path(token): Path<String>,
    form: FormBody,
) -> Result<Response, PageError> {
    let mut errors = FormErrors::new();
    if !form_ok(&app, &headers, tls, &form) {
        errors.add("", "The form expired. Please enter your password again.");
        return invitation_page(&app, &headers, tls, &token, errors).await;
    }
    let org_id = invitations::by_token(&app, &token).await?.org_id;
    let password = form.get("password").unwrap_or("");
    let code = form.get("code").filter(|c| !c.is_empty());
    errors.require(
        &form,
        "password",
        "Password: enter your Keygate password, or choose one of 15 characters or more.",
    );
    if errors.is_empty() {
        match invitations::accept(&app, &client.anonymous(), &token, password, code).await {
            Ok(s) => {
                let max_age = (s.expires_at - crate::state::clock::now_ms()) / 1000;
                let mut resp = see_other(&format!("/app/orgs/{org_id}"));
                resp.headers_mut()
                    .append(header::SET_COOKIE, session_cookie(&s.token, max_age, tls));
                return Ok(resp);
            }
            Err(e) => place(&mut errors, e, "password")?,
        }
    }
    invitation_page(&app, &headers, tls, &token, errors).await
}

/// A refusal of an invitation's or a reset's form beside its field (a
/// secret that is not right: `unauthorized`), or on top.
fn place(errors: &mut FormErrors, e: Error, unauthorized: &str) -> Result<(), PageError> {
    let Some(msg) = sentence(&e) else {
        return Err(e.into());
    };
    let id = match &e {
        Error::Invalid { field, .. } if field.contains("code") => "code",
        Error::Invalid { field, .. } if field == "new_password" => "new_password",
        Error::Invalid { field, .. } if field == "password" => "password",
        Error::Unauthorized => unauthorized,
        _ => "",
    };
    errors.add(id, msg);
    errors.set_status(match e {
        Error::Unauthorized => StatusCode::UNAUTHORIZED,
        Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::BAD_REQUEST,
    });
    Ok(())
}

fn reset_request_page(
    headers: &HeaderMap,
    tls: bool,
    app: &Pages,
    sent: bool,
    status: StatusCode,
) -> Response {
    let (pre, c) = presession(headers, tls);
    let page = ResetRequestPage {
        csrf: app.forms.issue(&format!("pre:{pre}")),
        sent,
    };
    with_cookie(render_status(status, &page), c)
}

/// `GET /app/password-reset`: "Forgot password?".
pub async fn reset_request_form(
    State(app): State<Pages>,
    headers: HeaderMap,
    Tls(tls): Tls,
) -> Response {
    reset_request_page(&headers, tls, &app, false, StatusCode::OK)
}

/// Sends the link if the email has an account; says the same either way.
pub async fn reset_request(
    State(app): State<Pages>,
    headers: HeaderMap,
    Tls(tls): Tls,
    client: ClientInfo,
    form: FormBody,
) -> Result<Response, PageError> {
    if !form_ok(&app, &headers, tls, &form) {
        return Ok(reset_request_page(
            &headers,
            tls,
            &app,
            false,
            StatusCode::BAD_REQUEST,
        ));
    }
    let email = form.get("email").unwrap_or("");
    account::request_reset(&AppState::from_ref(&app), &client.anonymous(), email).await?;
    Ok(reset_request_page(
        &headers,
        tls,
        &app,
        true,
        StatusCode::OK,
    ))
}

async fn reset_page(
    app: &Pages,
    headers: &HeaderMap,
    tls: bool,
    token: &str,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let user = account::reset_user(app, token).await?;
    let (pre, c) = presession(headers, tls);
    let page = ResetPage {
        csrf: app.forms.issue(&format!("pre:{pre}")),
        action: format!("{}{token}", account::RESET_PATH),
        email: user.email,
        errors,
    };
    Ok(with_cookie(render_status(page.errors.status(), &page), c))
}

/// `GET /app/password-reset/{token}`: the new-password form.
pub async fn reset_form(
    State(app): State<Pages>,
    headers: HeaderMap,
    Tls(tls): Tls,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    reset_page(&app, &headers, tls, &token, FormErrors::new()).await
}

/// Sets the new password; every session ends, so the person signs in again.
pub async fn reset(
    State(app): State<Pages>,
    headers: HeaderMap,
    Tls(tls): Tls,
    client: ClientInfo,
    Path(token): Path<String>,
    form: FormBody,
) -> Result<Response, PageError> {
    let mut errors = FormErrors::new();
    if !form_ok(&app, &headers, tls, &form) {
        errors.add("", "The form expired. Please enter the new password again.");
        return reset_page(&app, &headers, tls, &token, errors).await;
    }
    errors.new_password(&form, "new_password", "confirm_password");
    if errors.is_empty() {
        let new_password = form.get("new_password").unwrap_or("");
        let code = form.get("code").filter(|c| !c.is_empty());
        match account::complete_reset(&app, &client.anonymous(), &token, new_password, code).await {
            Ok(_) => return Ok(see_other("/app/sign-in?done=reset")),
            Err(e) => place(&mut errors, e, "code")?,
        }
    }
    reset_page(&app, &headers, tls, &token, errors).await
}
