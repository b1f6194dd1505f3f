//! `GET /metrics` of the metrics listener (`serve --metrics-listen`), never
//! routed on the public listener.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::service::health;
use crate::state::app::AppState;
use crate::state::metrics::CONTENT_TYPE;

/// Every series in the OpenMetrics text format, which Prometheus scrapes.
pub async fn metrics(State(app): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        health::metrics_text(&app).await,
    )
        .into_response()
}
