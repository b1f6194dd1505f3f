//! Two-factor sign-in: enrolment, turning it off, the second step of sign-in,
//! and the organization's policy.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::http::dto::SessionCreated;
use crate::http::dto::two_factor::{
    OrgPatch, OrgView, RecoveryCodes, TwoFactorConfirm, TwoFactorDisable, TwoFactorEnrol,
    TwoFactorSecret, TwoFactorSignIn,
};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ClientInfo, CurrentUser, JsonBody, OrgMember};
use crate::http::routes::sessions::created;
use crate::middleware::access::Owner;
use crate::middleware::cookies::{Tls, cookie};
use crate::service::{sessions, two_factor};
use crate::state::app::AppState;
use crate::state::known::DEVICE_COOKIE;

/// Start turning on two-factor sign-in: a fresh TOTP secret (RFC 6238: SHA-1,
/// 6 digits, 30 s). It is off until confirmed with a code.
#[utoipa::path(post, path = "/dev/v1/me/two-factor", tag = "two-factor", request_body = TwoFactorEnrol,
    responses((status = 200, body = TwoFactorSecret), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn enrol(
    State(app): State<AppState>,
    me: CurrentUser,
    JsonBody(body): JsonBody<TwoFactorEnrol>,
) -> Result<Json<TwoFactorSecret>, ApiError> {
    let e = two_factor::enrol(&app, &me.user, body.password.as_deref()).await?;
    Ok(Json(TwoFactorSecret {
        secret: e.secret,
        otpauth_uri: e.otpauth_uri,
    }))
}

/// Turn two-factor on with the first code; returns ten recovery codes, shown
/// once. This session then counts as made with two factors; the user's other
/// sessions end.
#[utoipa::path(post, path = "/dev/v1/me/two-factor/confirm", tag = "two-factor", request_body = TwoFactorConfirm,
    responses((status = 200, body = RecoveryCodes), (status = 400, body = ErrorBody)))]
pub async fn confirm(
    State(app): State<AppState>,
    me: CurrentUser,
    JsonBody(body): JsonBody<TwoFactorConfirm>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let codes =
        two_factor::confirm(&app, &me.user, &me.actor(), &me.session_hash, &body.code).await?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// Turn two-factor off (password and a current or recovery code).
#[utoipa::path(delete, path = "/dev/v1/me/two-factor", tag = "two-factor", request_body = TwoFactorDisable,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn disable(
    State(app): State<AppState>,
    me: CurrentUser,
    JsonBody(body): JsonBody<TwoFactorDisable>,
) -> Result<StatusCode, ApiError> {
    two_factor::disable(
        &app,
        &me.user,
        &me.actor(),
        body.password.as_deref(),
        &body.code,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The second step of sign-in: the challenge from `POST /dev/v1/sessions` and
/// a code (or a recovery code). A wrong one answers like a wrong password.
#[utoipa::path(post, path = "/dev/v1/sessions/two-factor", tag = "sessions", request_body = TwoFactorSignIn,
    responses((status = 201, body = SessionCreated), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn sign_in(
    State(app): State<AppState>,
    headers: HeaderMap,
    Tls(tls): Tls,
    client: ClientInfo,
    JsonBody(body): JsonBody<TwoFactorSignIn>,
) -> Result<Response, ApiError> {
    let device = cookie(&headers, DEVICE_COOKIE, tls);
    let s = sessions::complete_sign_in(
        &app,
        &client.anonymous(),
        &body.challenge,
        &body.code,
        device.as_deref(),
    )
    .await?;
    Ok(created(s, tls))
}

/// The organization, with its two-factor policy.
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}", tag = "organizations",
    params(("org_id" = String, Path)),
    responses((status = 200, body = OrgView), (status = 404, body = ErrorBody)))]
pub async fn get_org(
    State(app): State<AppState>,
    m: OrgMember<crate::middleware::access::AnyMember>,
) -> Result<Json<OrgView>, ApiError> {
    let (org, require) = two_factor::org_with_policy(&app, &m.org_id).await?;
    Ok(Json(OrgView::new(&org, require)))
}

/// Change the organization (owner): `require_two_factor`.
#[utoipa::path(patch, path = "/dev/v1/orgs/{org_id}", tag = "organizations",
    params(("org_id" = String, Path)), request_body = OrgPatch,
    responses((status = 200, body = OrgView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn update_org(
    State(app): State<AppState>,
    m: OrgMember<Owner>,
    JsonBody(body): JsonBody<OrgPatch>,
) -> Result<Json<OrgView>, ApiError> {
    let (org, require) = two_factor::set_org_policy(
        &app,
        &m.acting(),
        body.require_two_factor,
        body.password.as_deref(),
    )
    .await?;
    Ok(Json(OrgView::new(&org, require)))
}
