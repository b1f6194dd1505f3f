//! Single sign-on settings (owner only; changing them needs the password).
//! The sign-in itself is the Developer app's `/app/sso/start` and
//! `/app/sso/callback`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::http::dto::PasswordConfirmation;
use crate::http::dto::sso::{SsoSettingsPut, SsoSettingsView};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{JsonBody, OrgMember, Owner};
use crate::service::sso;
use crate::state::app::AppState;

/// The organization's OpenID provider, its email domains and enforcement.
/// The issuer's discovery document is read at once (400 naming `issuer`
/// when it cannot be); a domain another organization claims is 409.
#[utoipa::path(put, path = "/dev/v1/orgs/{org_id}/sso", tag = "sso", operation_id = "put_sso",
    params(("org_id" = String, Path)), request_body = SsoSettingsPut,
    responses((status = 200, body = SsoSettingsView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn put(
    State(app): State<AppState>,
    m: OrgMember<Owner>,
    JsonBody(b): JsonBody<SsoSettingsPut>,
) -> Result<Json<SsoSettingsView>, ApiError> {
    let input = sso::Input {
        issuer: b.issuer.as_deref(),
        client_id: b.client_id.as_deref(),
        client_secret: b.client_secret.as_deref(),
        domains: b.domains.as_deref(),
        enforce: b.enforce,
        default_role: b.default_role.as_deref(),
    };
    let s = sso::put(&app, &m.acting(), input, b.password.as_deref()).await?;
    Ok(Json(SsoSettingsView::new(
        &s,
        &app.settings.notify.public_url,
    )))
}

/// The settings, without the client secret; 404 when there are none.
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/sso", tag = "sso", operation_id = "get_sso",
    params(("org_id" = String, Path)),
    responses((status = 200, body = SsoSettingsView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    m: OrgMember<Owner>,
) -> Result<Json<SsoSettingsView>, ApiError> {
    let s = sso::get(&app, &m.org_id).await?;
    Ok(Json(SsoSettingsView::new(
        &s,
        &app.settings.notify.public_url,
    )))
}

/// Turn single sign-on off.
#[utoipa::path(delete, path = "/dev/v1/orgs/{org_id}/sso", tag = "sso", operation_id = "delete_sso",
    params(("org_id" = String, Path)), request_body = PasswordConfirmation,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(app): State<AppState>,
    m: OrgMember<Owner>,
    JsonBody(b): JsonBody<PasswordConfirmation>,
) -> Result<StatusCode, ApiError> {
    sso::delete(&app, &m.acting(), b.password.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
