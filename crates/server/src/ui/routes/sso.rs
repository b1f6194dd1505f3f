//! Single sign-on in the browser: `/app/sso/start` sends the browser to the
//! organization's OpenID provider with the pending sign-in in a `SameSite=Lax`
//! cookie (a `Strict` one would not come back with the provider's redirect);
//! `/app/sso/callback` ends it with a session, or a page that says why not.
//!
//! The sign-in page's "Sign in with SSO" form comes here with `via=form`
//! and gets a page that moves on by `<meta http-equiv="refresh">`: Chromium
//! applies the app's `form-action 'self'` to the redirects that follow a
//! form's submission, so a form must not lead straight to the provider.
//! The owner's settings page is `sso_settings.rs`.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::service::sso::{self, flow_cookie_max_age};
use crate::service::{Error, sessions::NewSession};
use crate::state::known::{DEVICE_COOKIE, DEVICE_MAX_AGE_SECS};
use crate::ui::Pages;
use crate::ui::extract::{
    ClientInfo, PageError, Tls, cookie, page, see_other, set_cookie, set_lax_cookie,
};
use crate::ui::layout::render;

/// The pending sign-in's cookie.
pub const SSO_COOKIE: &str = "keygate_sso";

#[derive(Deserialize, Default)]
struct StartQuery {
    #[serde(default)]
    email: String,
    #[serde(default)]
    via: Option<String>,
}

#[derive(Deserialize, Default)]
struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The step between the sign-in page's form and the provider.
#[derive(Template)]
#[template(path = "sso_continue.html")]
pub struct ContinuePage {
    pub next: String,
}

pub async fn start(State(app): State<Pages>, Tls(tls): Tls, RawQuery(q): RawQuery) -> Response {
    let q: StartQuery = serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let email = q.email.trim().to_owned();
    if q.via.as_deref() == Some("form") {
        let next = format!(
            "/app/sso/start?{}",
            serde_urlencoded::to_string([("email", &email)]).unwrap_or_default()
        );
        return render(&ContinuePage { next }).into_response();
    }
    match sso::start(&app, &email).await {
        Ok(started) => {
            let mut resp = (StatusCode::FOUND, [(header::LOCATION, started.location)]).into_response();
            resp.headers_mut().append(
                header::SET_COOKIE,
                set_lax_cookie(SSO_COOKIE, &started.pending, flow_cookie_max_age(), tls),
            );
            resp
        }
        Err(Error::NotFound) => page(
            StatusCode::NOT_FOUND,
            "No single sign-on for this email",
            "No organization signs in through an identity provider for this email's domain. Sign in with your password instead.".into(),
            None,
        ),
        Err(Error::Invalid { .. }) => page(
            StatusCode::BAD_REQUEST,
            "Enter your work email",
            "Single sign-on needs your email address, such as you@example.com.".into(),
            None,
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

pub async fn callback(
    State(app): State<Pages>,
    headers: HeaderMap,
    Tls(tls): Tls,
    client: ClientInfo,
    RawQuery(q): RawQuery,
) -> Response {
    let q: CallbackQuery =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let pending = cookie(&headers, SSO_COOKIE, tls);
    let device = cookie(&headers, DEVICE_COOKIE, tls);
    let mut resp = match (q.error, q.code, q.state) {
        (None, Some(code), Some(state)) => {
            match sso::finish(
                &app,
                &client.anonymous(),
                pending.as_deref(),
                &state,
                &code,
                device.as_deref(),
            )
            .await
            {
                Ok(s) => signed_in(tls, &s),
                Err(e) => PageError::from(e).into_response(),
            }
        }
        _ => page(
            StatusCode::FORBIDDEN,
            "Not signed in",
            "Your identity provider did not sign you in. Sign in again.".into(),
            None,
        ),
    };
    // The pending sign-in is used once, whatever the outcome.
    resp.headers_mut()
        .append(header::SET_COOKIE, set_lax_cookie(SSO_COOKIE, "", 0, tls));
    resp
}

/// The session cookie (`Lax`: this answer follows the provider's redirect,
/// and so does the browser's next request, to `/app`), and on to the app.
fn signed_in(tls: bool, s: &NewSession) -> Response {
    let max_age = (s.expires_at - crate::state::clock::now_ms()) / 1000;
    let mut resp = see_other("/app");
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_lax_cookie(crate::ui::extract::SESSION_COOKIE, &s.token, max_age, tls),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(DEVICE_COOKIE, &s.device_cookie, DEVICE_MAX_AGE_SECS, tls),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}
