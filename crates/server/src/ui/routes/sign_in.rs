//! Sign in, sign out, and where `/` and `/app` lead.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keygate_core::crypto::random_base62;

use crate::service::sessions::{NewSession, SignIn};
use crate::service::{Error, orgs, sessions};
use crate::state::known::{DEVICE_COOKIE, DEVICE_MAX_AGE_SECS};
use crate::ui::Pages;
use crate::ui::extract::{
    AnyMember, ClientInfo, CurrentUser, FormBody, OrgMember, PRESESSION_COOKIE, PageError, Tls,
    clear_session_cookies, cookie, see_other, session_cookie, set_cookie,
};
use crate::ui::form_errors::FormErrors;
use crate::ui::layout::render_status;

use super::check_form;

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub csrf: String,
    pub email: String,
    pub error: Option<String>,
    pub notice: Option<&'static str>,
    /// Single sign-on is required: where to continue (`/app/sso/start?…`).
    pub sso_start: Option<String>,
    /// Fields left empty, each linked from the summary.
    pub errors: FormErrors,
}

/// The second page of sign-in, for users with two-factor on.
#[derive(Template)]
#[template(path = "sign_in_code.html")]
pub struct SignInCodePage {
    pub csrf: String,
    pub challenge: String,
    pub error: Option<String>,
}

/// `/`: the app for a signed-in browser, the sign-in page otherwise.
pub async fn root(me: Result<CurrentUser, PageError>) -> Response {
    match me {
        Ok(_) => see_other("/app"),
        Err(_) => see_other("/app/sign-in"),
    }
}

/// `/app`: the first organization of the user.
pub async fn home(State(app): State<Pages>, me: CurrentUser) -> Result<Response, PageError> {
    let memberships = orgs::memberships(&app, &me.user.user_id).await?;
    match memberships.first() {
        Some(m) => Ok(see_other(&format!("/app/orgs/{}", m.org_id))),
        None => super::security::no_organization(&app, &me).await,
    }
}

/// `/app/orgs/{org_id}`: API keys for those who may use them, Settings for the others.
pub async fn landing(m: OrgMember<AnyMember>) -> Response {
    if m.role.can_manage_keys() {
        see_other(&format!(
            "/app/orgs/{}/settings/developer/api-keys",
            m.org_id
        ))
    } else {
        see_other(&format!("/app/orgs/{}/settings", m.org_id))
    }
}

/// The sign-in form. Its token is bound to a random pre-session cookie so
/// another site cannot sign a browser in to an account of its choosing.
pub(super) fn sign_in_form(
    app: &Pages,
    headers: &HeaderMap,
    tls: bool,
    status: StatusCode,
    email: String,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Response {
    let page = |csrf| SignInPage {
        csrf,
        email,
        error,
        notice,
        sso_start: None,
        errors: FormErrors::new(),
    };
    sign_in_page_with(app, headers, tls, status, page)
}

/// The sign-in page for a member whose organization enforces single
/// sign-on: a link on to the provider (a link, not a redirect of this form's
/// POST, which the app's `form-action 'self'` would stop at the provider).
fn sso_required_form(app: &Pages, headers: &HeaderMap, tls: bool, email: String) -> Response {
    let next = format!(
        "/app/sso/start?{}",
        serde_urlencoded::to_string([("email", &email)]).unwrap_or_default()
    );
    let page = |csrf| SignInPage {
        csrf,
        email,
        error: Some("Your organization signs you in through its identity provider.".into()),
        notice: None,
        sso_start: Some(next),
        errors: FormErrors::new(),
    };
    sign_in_page_with(app, headers, tls, StatusCode::FORBIDDEN, page)
}

fn sign_in_page_with(
    app: &Pages,
    headers: &HeaderMap,
    tls: bool,
    status: StatusCode,
    page: impl FnOnce(String) -> SignInPage,
) -> Response {
    let pre = cookie(headers, PRESESSION_COOKIE, tls).filter(|c| c.len() == 32);
    let (pre, new_cookie) = match pre {
        Some(p) => (p, None),
        None => {
            let p = random_base62(32);
            let c = set_cookie(PRESESSION_COOKIE, &p, 3600, tls);
            (p, Some(c))
        }
    };
    let page = page(app.forms.issue(&format!("pre:{pre}")));
    let mut resp = render_status(status, &page);
    if let Some(c) = new_cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

pub async fn sign_in_page(
    State(app): State<Pages>,
    headers: HeaderMap,
    Tls(tls): Tls,
    RawQuery(q): RawQuery,
    me: Result<CurrentUser, PageError>,
) -> Response {
    if me.is_ok() {
        return see_other("/app");
    }
    let notice = (q.as_deref() == Some("done=reset"))
        .then_some("Password changed. Sign in with your new password.");
    sign_in_form(
        &app,
        &headers,
        tls,
        StatusCode::OK,
        String::new(),
        None,
        notice,
    )
}

pub async fn sign_in(
    State(app): State<Pages>,
    headers: HeaderMap,
    Tls(tls): Tls,
    client: ClientInfo,
    form: FormBody,
) -> Response {
    let email = form.get("email").unwrap_or("").trim().to_owned();
    let pre = cookie(&headers, PRESESSION_COOKIE, tls).unwrap_or_default();
    if app
        .forms
        .consume(&format!("pre:{pre}"), form.get("csrf"))
        .is_err()
    {
        let msg =
            "The sign-in form expired. Please sign in again (your browser must accept cookies).";
        return sign_in_form(
            &app,
            &headers,
            tls,
            StatusCode::BAD_REQUEST,
            email,
            Some(msg.into()),
            None,
        );
    }
    let mut missing = FormErrors::new();
    missing.require(&form, "email", "Email: enter the email you sign in with.");
    missing.require(&form, "password", "Password: enter your password.");
    if !missing.is_empty() {
        let page = SignInPage {
            csrf: app.forms.issue(&format!("pre:{pre}")),
            email,
            error: None,
            notice: None,
            sso_start: None,
            errors: missing,
        };
        return render_status(page.errors.status(), &page);
    }
    let actor = client.anonymous();
    let password = form.get("password").unwrap_or("");
    let device = cookie(&headers, DEVICE_COOKIE, tls);
    match sessions::sign_in_from(&app, &actor, &email, password, device.as_deref()).await {
        Ok(SignIn::Session(s)) => signed_in(tls, &s),
        Ok(SignIn::TwoFactor(c)) => code_form(&app, &pre, StatusCode::OK, c.token, None),
        Err(Error::SsoRequired) => sso_required_form(&app, &headers, tls, email),
        Err(Error::TooManyAttempts { retry_after_secs }) => {
            let msg = format!(
                "Too many failed sign-in attempts. Try again in {} minute(s).",
                retry_after_secs.div_ceil(60)
            );
            sign_in_form(
                &app,
                &headers,
                tls,
                StatusCode::TOO_MANY_REQUESTS,
                email,
                Some(msg),
                None,
            )
        }
        Err(Error::Busy { .. }) => sign_in_form(
            &app,
            &headers,
            tls,
            StatusCode::SERVICE_UNAVAILABLE,
            email,
            Some("The server is busy. Try again in a few seconds.".into()),
            None,
        ),
        Err(Error::Unauthorized) => sign_in_form(
            &app,
            &headers,
            tls,
            StatusCode::UNAUTHORIZED,
            email,
            Some("The email or password is not correct.".into()),
            None,
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// Signed in: the session cookie, and on to the app.
pub(super) fn signed_in(tls: bool, s: &NewSession) -> Response {
    let max_age = (s.expires_at - crate::state::clock::now_ms()) / 1000;
    let mut resp = see_other("/app");
    resp.headers_mut()
        .append(header::SET_COOKIE, session_cookie(&s.token, max_age, tls));
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(DEVICE_COOKIE, &s.device_cookie, DEVICE_MAX_AGE_SECS, tls),
    );
    resp
}

/// The second page of sign-in: the challenge travels in the form (never the
/// URL), its form token is bound to the pre-session cookie like the first.
fn code_form(
    app: &Pages,
    pre: &str,
    status: StatusCode,
    challenge: String,
    error: Option<String>,
) -> Response {
    let page = SignInCodePage {
        csrf: app.forms.issue(&format!("pre:{pre}")),
        challenge,
        error,
    };
    render_status(status, &page)
}

pub async fn sign_in_code(
    State(app): State<Pages>,
    headers: HeaderMap,
    Tls(tls): Tls,
    client: ClientInfo,
    form: FormBody,
) -> Response {
    let pre = cookie(&headers, PRESESSION_COOKIE, tls).unwrap_or_default();
    if app
        .forms
        .consume(&format!("pre:{pre}"), form.get("csrf"))
        .is_err()
    {
        let msg = "The sign-in form expired. Please sign in again.";
        return sign_in_form(
            &app,
            &headers,
            tls,
            StatusCode::BAD_REQUEST,
            String::new(),
            Some(msg.into()),
            None,
        );
    }
    let challenge = form.get("challenge").unwrap_or("").to_owned();
    let code = form.get("code").unwrap_or("");
    let device = cookie(&headers, DEVICE_COOKIE, tls);
    match sessions::complete_sign_in(
        &app,
        &client.anonymous(),
        &challenge,
        code,
        device.as_deref(),
    )
    .await
    {
        Ok(s) => signed_in(tls, &s),
        Err(Error::Unauthorized) => code_form(
            &app,
            &pre,
            StatusCode::UNAUTHORIZED,
            challenge,
            Some("That code is not correct, or this sign-in has expired.".into()),
        ),
        Err(Error::TooManyAttempts { retry_after_secs }) => {
            let msg = format!(
                "Too many failed sign-in attempts. Try again in {} minute(s).",
                retry_after_secs.div_ceil(60)
            );
            sign_in_form(
                &app,
                &headers,
                tls,
                StatusCode::TOO_MANY_REQUESTS,
                String::new(),
                Some(msg),
                None,
            )
        }
        Err(e) => PageError::from(e).into_response(),
    }
}

pub async fn sign_out(
    State(app): State<Pages>,
    me: CurrentUser,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &me, &form)?;
    sessions::sign_out(&app, &me.session_hash).await?;
    let mut resp = see_other("/app/sign-in");
    for (k, v) in clear_session_cookies() {
        resp.headers_mut().append(k, v);
    }
    Ok(resp)
}
