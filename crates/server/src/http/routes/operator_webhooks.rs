//! The operator's webhooks (`/operator/v1/webhooks`): events of every
//! organization, signed and retried like organizations' webhooks.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::http::dto::operator_webhooks::{
    OperatorWebhookCreate, OperatorWebhookCreated, OperatorWebhookList, OperatorWebhookView,
};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{JsonBody, OperatorCaller};
use crate::service::operator_webhooks;
use crate::state::app::AppState;

/// Register a webhook for events of every organization; the answer holds its
/// signing secret, shown once.
#[utoipa::path(post, path = "/operator/v1/webhooks", tag = "operator", operation_id = "operator_create_webhook",
    request_body = OperatorWebhookCreate,
    responses((status = 201, body = OperatorWebhookCreated), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    OperatorCaller(op): OperatorCaller,
    JsonBody(body): JsonBody<OperatorWebhookCreate>,
) -> Result<(StatusCode, Json<OperatorWebhookCreated>), ApiError> {
    let (w, secret) = operator_webhooks::create(&app, &op, &body.url, body.events).await?;
    Ok((
        StatusCode::CREATED,
        Json(OperatorWebhookCreated {
            webhook: OperatorWebhookView::from(&w),
            secret,
        }),
    ))
}

/// The operator's webhooks (no secrets).
#[utoipa::path(get, path = "/operator/v1/webhooks", tag = "operator", operation_id = "operator_list_webhooks",
    responses((status = 200, body = OperatorWebhookList), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    OperatorCaller(_): OperatorCaller,
) -> Result<Json<OperatorWebhookList>, ApiError> {
    let hooks = operator_webhooks::list(&app).await?;
    Ok(Json(OperatorWebhookList {
        webhooks: hooks.iter().map(OperatorWebhookView::from).collect(),
    }))
}

/// Delete an operator webhook and its pending deliveries.
#[utoipa::path(delete, path = "/operator/v1/webhooks/{webhook_id}", tag = "operator", operation_id = "operator_delete_webhook",
    params(("webhook_id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(app): State<AppState>,
    OperatorCaller(op): OperatorCaller,
    Path(webhook_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    operator_webhooks::delete(&app, &op, &webhook_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
