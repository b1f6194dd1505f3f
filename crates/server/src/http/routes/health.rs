//! Health and readiness, for load balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::http::error::ErrorBody;
use crate::service::health;
use crate::state::app::AppState;

/// The process is up and serving HTTP. Says nothing of the database: use
/// `/readyz` to decide whether to send traffic.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, description = "`{\"status\":\"ok\"}`", body = Object)))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready for traffic: the store answers and the credential cache is fresh.
/// 503 `unavailable` otherwise, with the reason in `message`.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz",
    responses((status = 200, description = "`{\"status\":\"ready\"}`", body = Object),
        (status = 503, description = "not ready; `message` says why", body = ErrorBody)))]
pub async fn readyz(State(app): State<AppState>) -> Response {
    match health::ready(&app).await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ErrorBody {
                code: "unavailable",
                message: format!("not ready: {reason}"),
                source: None,
                trace_id: None,
            }),
        )
            .into_response(),
    }
}
