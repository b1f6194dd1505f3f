//! Passkeys: adding, listing and removing one's own, and signing in with one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::http::dto::SessionCreated;
use crate::http::dto::passkeys::{
    PasskeyCreated, PasskeyList, PasskeyOptions, PasskeyOptionsRequest, PasskeyRegister,
    PasskeyRemove, PasskeySignIn, PasskeySignInOptionsRequest, PasskeyView,
};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ClientInfo, CurrentUser, JsonBody};
use crate::http::routes::sessions::created;
use crate::middleware::cookies::{Tls, cookie};
use crate::service::passkeys::{self, Started};
use crate::state::app::AppState;
use crate::state::known::DEVICE_COOKIE;
use keygate_core::time::format_rfc3339;

fn options(s: Started) -> Json<PasskeyOptions> {
    Json(PasskeyOptions {
        challenge_id: s.challenge_id,
        public_key: s.public_key,
    })
}

/// Start adding a passkey (password re-entered): creation options for a
/// discoverable credential with user verification.
#[utoipa::path(post, path = "/dev/v1/me/passkeys/options", tag = "passkeys", request_body = PasskeyOptionsRequest,
    responses((status = 200, body = PasskeyOptions), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn registration_options(
    State(app): State<AppState>,
    me: CurrentUser,
    JsonBody(body): JsonBody<PasskeyOptionsRequest>,
) -> Result<Json<PasskeyOptions>, ApiError> {
    let s = passkeys::registration_options(&app, &me.user, body.password.as_deref()).await?;
    Ok(options(s))
}

/// Add the passkey the authenticator made for those options; a mail tells you.
#[utoipa::path(post, path = "/dev/v1/me/passkeys", tag = "passkeys", request_body = PasskeyRegister,
    responses((status = 201, body = PasskeyCreated), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn register(
    State(app): State<AppState>,
    me: CurrentUser,
    JsonBody(body): JsonBody<PasskeyRegister>,
) -> Result<Response, ApiError> {
    let p = passkeys::register(
        &app,
        &me.user,
        &me.actor(),
        &body.challenge_id,
        &body.name,
        &body.credential,
    )
    .await?;
    let view = PasskeyCreated {
        passkey_id: p.passkey_id.to_string(),
        name: p.name,
        created_at: format_rfc3339(p.created_at),
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Your passkeys, oldest first.
#[utoipa::path(get, path = "/dev/v1/me/passkeys", tag = "passkeys",
    responses((status = 200, body = PasskeyList), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    me: CurrentUser,
) -> Result<Json<PasskeyList>, ApiError> {
    let list = passkeys::list(&app, &me.user.user_id).await?;
    Ok(Json(PasskeyList {
        passkeys: list.iter().map(PasskeyView::from).collect(),
    }))
}

/// Remove one of your passkeys (password re-entered); a mail tells you.
#[utoipa::path(delete, path = "/dev/v1/me/passkeys/{passkey_id}", tag = "passkeys",
    params(("passkey_id" = String, Path)), request_body = PasskeyRemove,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(app): State<AppState>,
    me: CurrentUser,
    Path(passkey_id): Path<String>,
    JsonBody(body): JsonBody<PasskeyRemove>,
) -> Result<StatusCode, ApiError> {
    passkeys::remove(
        &app,
        &me.user,
        &me.actor(),
        &passkey_id,
        body.password.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start signing in with a passkey: request options without
/// `allowCredentials` (the authenticator offers the passkeys it holds).
#[utoipa::path(post, path = "/dev/v1/sessions/passkey/options", tag = "sessions", request_body = PasskeySignInOptionsRequest,
    responses((status = 200, body = PasskeyOptions), (status = 403, body = ErrorBody)))]
pub async fn sign_in_options(
    State(app): State<AppState>,
    JsonBody(_): JsonBody<PasskeySignInOptionsRequest>,
) -> Result<Json<PasskeyOptions>, ApiError> {
    Ok(options(passkeys::sign_in_options(&app).await?))
}

/// Sign in with the authenticator's assertion for those options: a session
/// that counts as two factors. Anything wrong answers like a wrong password.
#[utoipa::path(post, path = "/dev/v1/sessions/passkey", tag = "sessions", operation_id = "passkey_sign_in", request_body = PasskeySignIn,
    responses((status = 201, body = SessionCreated), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn sign_in(
    State(app): State<AppState>,
    headers: HeaderMap,
    Tls(tls): Tls,
    client: ClientInfo,
    JsonBody(body): JsonBody<PasskeySignIn>,
) -> Result<Response, ApiError> {
    let device = cookie(&headers, DEVICE_COOKIE, tls);
    let s = passkeys::sign_in(
        &app,
        &client.anonymous(),
        &body.challenge_id,
        &body.credential,
        device.as_deref(),
    )
    .await?;
    Ok(created(s, tls))
}
