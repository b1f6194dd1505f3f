//! Audit streams (owner, admin): the organization's hash chain sent on to a
//! receiver. Creating or deleting one needs the user's password.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keygate_core::AuditStreamId;

use crate::http::dto::PasswordConfirmation;
use crate::http::dto::audit_streams::{AuditStreamCreate, AuditStreamCreated, AuditStreamView};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{JsonBody, OrgManager, OrgMember};
use crate::service::audit_streams;
use crate::state::app::AppState;

type Manager = OrgMember<OrgManager>;

fn stream_id(s: &str) -> Result<AuditStreamId, ApiError> {
    AuditStreamId::parse(s).map_err(|_| ApiError::NotFound)
}

/// The organization's audit streams, with their lag and last error.
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/audit-streams", tag = "audit", operation_id = "list_audit_streams",
    params(("org_id" = String, Path)),
    responses((status = 200, body = Vec<AuditStreamView>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    m: Manager,
) -> Result<Json<Vec<AuditStreamView>>, ApiError> {
    let streams = audit_streams::list(&app, &m.org_id).await?;
    Ok(Json(streams.iter().map(AuditStreamView::from).collect()))
}

/// Stream the audit log, from seq 1: `jsonl` (signed HTTPS POSTs of JSON
/// lines) or `syslog` (RFC 5424 over TCP, RFC 6587 octet counting).
#[utoipa::path(post, path = "/dev/v1/orgs/{org_id}/audit-streams", tag = "audit", operation_id = "create_audit_stream",
    params(("org_id" = String, Path)), request_body = AuditStreamCreate,
    responses((status = 201, body = AuditStreamCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    m: Manager,
    JsonBody(body): JsonBody<AuditStreamCreate>,
) -> Result<(StatusCode, Json<AuditStreamCreated>), ApiError> {
    let c = audit_streams::create(
        &app,
        &m.acting(),
        body.url.as_deref(),
        body.format.as_deref(),
        body.password.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(AuditStreamCreated {
            stream_id: c.stream.stream_id.to_string(),
            url: c.stream.url.clone(),
            format: c.stream.format.clone(),
            delivered_seq: c.stream.delivered_seq,
            secret: c.secret,
        }),
    ))
}

/// One stream: how far it got (`delivered_seq`), how far behind it is
/// (`lag_seq`) and its last error.
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/audit-streams/{stream_id}", tag = "audit", operation_id = "get_audit_stream",
    params(("org_id" = String, Path), ("stream_id" = String, Path)),
    responses((status = 200, body = AuditStreamView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    m: Manager,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<AuditStreamView>, ApiError> {
    let s = audit_streams::find(&app, &m.org_id, &stream_id(&id)?).await?;
    Ok(Json(AuditStreamView::from(&s)))
}

/// Stop a stream.
#[utoipa::path(delete, path = "/dev/v1/orgs/{org_id}/audit-streams/{stream_id}", tag = "audit", operation_id = "delete_audit_stream",
    params(("org_id" = String, Path), ("stream_id" = String, Path)), request_body = PasswordConfirmation,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(app): State<AppState>,
    m: Manager,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<PasswordConfirmation>,
) -> Result<StatusCode, ApiError> {
    audit_streams::delete(
        &app,
        &m.acting(),
        &stream_id(&id)?,
        body.password.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
