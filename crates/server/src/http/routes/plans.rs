//! The operator's plans (`/operator/v1/plans`): quotas and a default rate
//! limit that organizations are put on with `plan_id`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::http::dto::plans::{PlanList, PlanPut, PlanView};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{JsonBody, OperatorCaller};
use crate::service::plans::{self, PlanInput};
use crate::state::app::AppState;

/// Create (201) or replace (200) a plan; `plan_id` is `[a-z0-9_-]{1,64}`.
#[utoipa::path(put, path = "/operator/v1/plans/{plan_id}", tag = "operator", operation_id = "operator_put_plan",
    params(("plan_id" = String, Path)), request_body = PlanPut,
    responses((status = 200, body = PlanView), (status = 201, body = PlanView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn put_plan(
    State(app): State<AppState>,
    OperatorCaller(op): OperatorCaller,
    Path(plan_id): Path<String>,
    JsonBody(body): JsonBody<PlanPut>,
) -> Result<(StatusCode, Json<PlanView>), ApiError> {
    let input = PlanInput {
        name: body.name,
        quotas: body
            .quotas
            .into_iter()
            .map(|q| (q.period, q.requests))
            .collect(),
        rate_limit: body.rate_limit.map(|l| (l.requests, l.per_seconds)),
    };
    let (plan, created) = plans::put(&app, &op, &plan_id, input).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(PlanView::from(&plan))))
}

#[utoipa::path(get, path = "/operator/v1/plans/{plan_id}", tag = "operator", operation_id = "operator_get_plan",
    params(("plan_id" = String, Path)),
    responses((status = 200, body = PlanView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_plan(
    State(app): State<AppState>,
    OperatorCaller(_): OperatorCaller,
    Path(plan_id): Path<String>,
) -> Result<Json<PlanView>, ApiError> {
    Ok(Json(PlanView::from(&plans::get(&app, &plan_id).await?)))
}

/// Delete a plan; 409 while an organization is on it.
#[utoipa::path(delete, path = "/operator/v1/plans/{plan_id}", tag = "operator", operation_id = "operator_delete_plan",
    params(("plan_id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_plan(
    State(app): State<AppState>,
    OperatorCaller(op): OperatorCaller,
    Path(plan_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    plans::delete(&app, &op, &plan_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every plan, by id.
#[utoipa::path(get, path = "/operator/v1/plans", tag = "operator", operation_id = "operator_list_plans",
    responses((status = 200, body = PlanList), (status = 401, body = ErrorBody)))]
pub async fn list_plans(
    State(app): State<AppState>,
    OperatorCaller(_): OperatorCaller,
) -> Result<Json<PlanList>, ApiError> {
    let plans = plans::list(&app).await?;
    Ok(Json(PlanList {
        plans: plans.iter().map(PlanView::from).collect(),
    }))
}
