//! The organization's key policy: read by members, changed by the owner.

use axum::Json;
use axum::extract::State;

use crate::http::dto::key_policy::{KeyPolicyPatch, KeyPolicyView};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{JsonBody, OrgMember};
use crate::middleware::access::{AnyMember, Owner};
use crate::service::key_policy;
use crate::state::app::AppState;

/// The organization's key policy, and the keys made before it that break it.
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/key-policy", tag = "organizations",
    params(("org_id" = String, Path)),
    responses((status = 200, body = KeyPolicyView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    m: OrgMember<AnyMember>,
) -> Result<Json<KeyPolicyView>, ApiError> {
    let policy = key_policy::get(&app, &m.org_id).await?;
    let breaking = key_policy::breaking_keys(&app, &m.org_id, &policy).await?;
    let on_leak = key_policy::on_leak(&app, &m.org_id).await?;
    Ok(Json(KeyPolicyView::new(&policy, on_leak, &breaking)))
}

/// Change the key policy (owner). Absent fields keep their setting, `null`
/// clears one. Existing keys are not changed; those that break the new
/// policy are listed in `breaking_keys`.
#[utoipa::path(patch, path = "/dev/v1/orgs/{org_id}/key-policy", tag = "organizations",
    params(("org_id" = String, Path)), request_body = KeyPolicyPatch,
    responses((status = 200, body = KeyPolicyView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(app): State<AppState>,
    m: OrgMember<Owner>,
    JsonBody(body): JsonBody<KeyPolicyPatch>,
) -> Result<Json<KeyPolicyView>, ApiError> {
    let policy =
        key_policy::set(&app, &m.acting(), body.changes(), body.password.as_deref()).await?;
    let breaking = key_policy::breaking_keys(&app, &m.org_id, &policy).await?;
    let on_leak = key_policy::on_leak(&app, &m.org_id).await?;
    Ok(Json(KeyPolicyView::new(&policy, on_leak, &breaking)))
}
