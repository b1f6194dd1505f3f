//! Passkeys in the Developer app: "Sign in with a passkey" on the sign-in
//! page, and adding and removing them on Security. The browser's part
//! (`navigator.credentials`) is `static/passkeys.js`; these handlers take its
//! results as plain form posts, with the same form tokens as every form, and
//! call the same service as the JSON API.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::service::{Error, passkeys};
use crate::state::known::DEVICE_COOKIE;
use crate::ui::Pages;
use crate::ui::extract::{
    ClientInfo, CurrentUser, FormBody, PRESESSION_COOKIE, PageError, Tls, cookie, see_other,
};

use super::check_form;
use super::personal::sentence;
use super::security::security_page_with;
use super::sign_in::{sign_in_form, signed_in};
use crate::ui::form_errors::FormErrors;

/// The credential a form field carries, as JSON (`None` when it is not).
fn credential(form: &FormBody) -> Option<Value> {
    serde_json::from_str(form.get("credential")?).ok()
}

/// `POST /app/sign-in/passkey`: the assertion `passkeys.js` got for the
/// options of `POST /dev/v1/sessions/passkey/options` → the session cookie.
pub async fn sign_in(
    State(app): State<Pages>,
    headers: HeaderMap,
    Tls(tls): Tls,
    client: ClientInfo,
    form: FormBody,
) -> Response {
    let pre = cookie(&headers, PRESESSION_COOKIE, tls).unwrap_or_default();
    let form_again = |status, msg: &str| {
        sign_in_form(
            &app,
            &headers,
            tls,
            status,
            String::new(),
            Some(msg.to_owned()),
            None,
        )
    };
    if app
        .forms
        .consume(&format!("pre:{pre}"), form.get("csrf"))
        .is_err()
    {
        let msg =
            "The sign-in form expired. Please sign in again (your browser must accept cookies).";
        return form_again(StatusCode::BAD_REQUEST, msg);
    }
    let device = cookie(&headers, DEVICE_COOKIE, tls);
    let challenge_id = form.get("challenge_id").unwrap_or("");
    let credential = credential(&form).unwrap_or(Value::Null);
    let signed = passkeys::sign_in(
        &app,
        &client.anonymous(),
        challenge_id,
        &credential,
        device.as_deref(),
    )
    .await;
    match signed {
        Ok(s) => signed_in(tls, &s),
        Err(Error::Unauthorized) => form_again(
            StatusCode::UNAUTHORIZED,
            "That passkey did not sign you in. Use another passkey, or your email and password.",
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// `POST /app/security/passkeys/options` (fetched by `passkeys.js`): the
/// password → creation options, and a fresh form token for the form that
/// sends the authenticator's answer. JSON, errors as `{"error": sentence}`.
pub async fn options(State(app): State<Pages>, me: CurrentUser, form: FormBody) -> Response {
    if check_form(&app, &me, &form).is_err() {
        let msg = "This page expired. Reload it and try again.";
        return (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response();
    }
    let fresh = app.forms.issue(&me.session_hash.to_hex());
    match passkeys::registration_options(&app, &me.user, form.get("password")).await {
        Ok(s) => Json(json!({
            "challenge_id": s.challenge_id,
            "publicKey": s.public_key,
            "csrf": fresh,
        }))
        .into_response(),
        Err(e) => {
            let status = match e {
                Error::PasswordRejected => StatusCode::UNAUTHORIZED,
                Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::BAD_REQUEST,
            };
            let msg = sentence(&e).unwrap_or_else(|| error_sentence(&e));
            (status, Json(json!({"error": msg, "csrf": fresh}))).into_response()
        }
    }
}

fn error_sentence(e: &Error) -> String {
    match e {
        Error::NotAllowed(m) => (*m).to_owned(),
        Error::Invalid { message, .. } => format!("The passkey could not be added: {message}."),
        _ => "The passkey could not be added. Try again.".to_owned(),
    }
}

/// `POST /app/security/passkeys`: the name and the authenticator's answer.
pub async fn add(
    State(app): State<Pages>,
    me: CurrentUser,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &me, &form)?;
    let credential = credential(&form).unwrap_or(Value::Null);
    let added = passkeys::register(
        &app,
        &me.user,
        &me.actor(),
        form.get("challenge_id").unwrap_or(""),
        form.get("name").unwrap_or(""),
        &credential,
    )
    .await;
    match added {
        Ok(_) => Ok(see_other("/app/security?done=passkey-added")),
        Err(e @ (Error::Invalid { .. } | Error::Conflict(_))) => {
            let msg = error_sentence(&e);
            let msg = match e {
                Error::Conflict(m) => format!("The passkey could not be added: {m}."),
                _ => msg,
            };
            security_page_with(&app, &me, None, FormErrors::new(), Some(msg)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /app/security/passkeys/{passkey_id}/remove`: with the password.
pub async fn remove(
    State(app): State<Pages>,
    me: CurrentUser,
    Path(id): Path<String>,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &me, &form)?;
    match passkeys::remove(&app, &me.user, &me.actor(), &id, form.get("password")).await {
        Ok(()) => Ok(see_other("/app/security?done=passkey-removed")),
        Err(e) => match sentence(&e) {
            Some(msg) => security_page_with(&app, &me, None, FormErrors::new(), Some(msg)).await,
            None => Err(e.into()),
        },
    }
}
