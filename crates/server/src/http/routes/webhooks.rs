//! Webhook endpoints and the delivery log (owner, admin). Changing a webhook
//! needs the user's password; its signing secret is shown once, at creation.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use keygate_core::{DeliveryId, WebhookId};
use serde::Deserialize;

use crate::http::dto::PasswordConfirmation;
use crate::http::dto::webhooks::{
    DeliveryPage, DeliveryView, WebhookCreate, WebhookCreated, WebhookPatch, WebhookView,
};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{JsonBody, OrgManager, OrgMember};
use crate::http::routes::{bad_value, query_described};
use crate::service::webhooks::{self, WebhookInput};
use crate::state::app::AppState;

type Manager = OrgMember<OrgManager>;

fn webhook_id(s: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(s).map_err(|_| ApiError::NotFound)
}

/// The organization's webhooks (no secrets).
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/webhooks", tag = "webhooks", operation_id = "list_webhooks",
    params(("org_id" = String, Path)),
    responses((status = 200, body = Vec<WebhookView>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    m: Manager,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    let hooks = webhooks::list(&app, &m.org_id).await?;
    Ok(Json(hooks.iter().map(WebhookView::from).collect()))
}

/// Register a webhook endpoint; the answer holds its signing secret, shown once.
#[utoipa::path(post, path = "/dev/v1/orgs/{org_id}/webhooks", tag = "webhooks", operation_id = "create_webhook",
    params(("org_id" = String, Path)), request_body = WebhookCreate,
    responses((status = 201, body = WebhookCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    m: Manager,
    JsonBody(body): JsonBody<WebhookCreate>,
) -> Result<(StatusCode, Json<WebhookCreated>), ApiError> {
    let input = WebhookInput {
        url: Some(body.url),
        events: Some(body.events),
        enabled: body.enabled,
    };
    let c = webhooks::create(&app, &m.acting(), input, body.password.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookCreated::new(&c.webhook, c.secret)),
    ))
}

/// Change a webhook's URL, events or enabled flag; the secret stays.
#[utoipa::path(patch, path = "/dev/v1/orgs/{org_id}/webhooks/{webhook_id}", tag = "webhooks", operation_id = "update_webhook",
    params(("org_id" = String, Path), ("webhook_id" = String, Path)), request_body = WebhookPatch,
    responses((status = 200, body = WebhookView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(app): State<AppState>,
    m: Manager,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<WebhookPatch>,
) -> Result<Json<WebhookView>, ApiError> {
    let input = WebhookInput {
        url: body.url,
        events: body.events,
        enabled: body.enabled,
    };
    let id = webhook_id(&id)?;
    let w = webhooks::update(&app, &m.acting(), &id, input, body.password.as_deref()).await?;
    Ok(Json(WebhookView::from(&w)))
}

/// Delete a webhook and its delivery log.
#[utoipa::path(delete, path = "/dev/v1/orgs/{org_id}/webhooks/{webhook_id}", tag = "webhooks", operation_id = "delete_webhook",
    params(("org_id" = String, Path), ("webhook_id" = String, Path)), request_body = PasswordConfirmation,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(app): State<AppState>,
    m: Manager,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<PasswordConfirmation>,
) -> Result<StatusCode, ApiError> {
    let id = webhook_id(&id)?;
    webhooks::delete(&app, &m.acting(), &id, body.password.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    /// `seq` of the last delivery of the previous page.
    before: Option<i64>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

async fn page(
    app: &AppState,
    m: &Manager,
    webhook_id: Option<WebhookId>,
    raw: Option<String>,
) -> Result<Json<DeliveryPage>, ApiError> {
    const PARAMS: &[(&str, &str)] = &[
        ("limit", "a whole number from 1 to 200"),
        (
            "before",
            "a whole number (the seq of the last delivery of the previous page)",
        ),
    ];
    let p: DeliveryParams = query_described(raw.as_deref(), PARAMS)?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad_value("limit", PARAMS));
    }
    let list = webhooks::deliveries(app, &m.org_id, webhook_id.as_ref(), p.before, limit).await?;
    let next_before = (list.len() == limit as usize)
        .then(|| list.last().map(|d| d.seq))
        .flatten();
    Ok(Json(DeliveryPage {
        deliveries: list.iter().map(DeliveryView::from).collect(),
        next_before,
    }))
}

/// One webhook's deliveries, newest first, each with every attempt (status, latency, error).
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/webhooks/{webhook_id}/deliveries", tag = "webhooks",
    params(("org_id" = String, Path), ("webhook_id" = String, Path), DeliveryParams),
    responses((status = 200, body = DeliveryPage), (status = 404, body = ErrorBody)))]
pub async fn webhook_deliveries(
    State(app): State<AppState>,
    m: Manager,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<DeliveryPage>, ApiError> {
    page(&app, &m, Some(webhook_id(&id)?), raw).await
}

/// Every notification of the organization (webhooks and mail), newest first.
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/deliveries", tag = "webhooks",
    params(("org_id" = String, Path), DeliveryParams),
    responses((status = 200, body = DeliveryPage), (status = 403, body = ErrorBody)))]
pub async fn deliveries(
    State(app): State<AppState>,
    m: Manager,
    RawQuery(raw): RawQuery,
) -> Result<Json<DeliveryPage>, ApiError> {
    page(&app, &m, None, raw).await
}

/// Send a delivery again now (e.g. after fixing the receiver); 202, then see its log.
/// Needs the password like every other webhook change.
#[utoipa::path(post, path = "/dev/v1/orgs/{org_id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(("org_id" = String, Path), ("delivery_id" = String, Path)), request_body = PasswordConfirmation,
    responses((status = 202), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn redeliver(
    State(app): State<AppState>,
    m: Manager,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<PasswordConfirmation>,
) -> Result<StatusCode, ApiError> {
    let id = DeliveryId::parse(&id).map_err(|_| ApiError::NotFound)?;
    webhooks::redeliver(&app, &m.acting(), &id, body.password.as_deref()).await?;
    Ok(StatusCode::ACCEPTED)
}
