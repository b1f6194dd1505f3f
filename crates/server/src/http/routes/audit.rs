//! The organization's audit log.

use axum::Json;
use axum::extract::{RawQuery, State};
use serde::Deserialize;

use crate::http::dto::{AuditEventView, AuditPage};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{KeyManager, OrgMember};
use crate::http::routes::{bad_value, client_id, query_described};
use crate::service::audit;
use crate::state::app::AppState;

const PARAMS: &[(&str, &str)] = &[
    ("limit", "a whole number from 1 to 200"),
    (
        "before",
        "a whole number (the seq of the last event of the previous page)",
    ),
    ("client_id", "a client id"),
    (
        "after_seq",
        "a whole number from 0 (the next_after_seq of the previous page), without before or client_id",
    ),
];

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only events of this key.
    client_id: Option<String>,
    /// `seq` of the last event of the previous page.
    before: Option<i64>,
    /// Oldest first, from the event after this seq (0: from the first);
    /// pass `next_after_seq` back for the next page.
    after_seq: Option<i64>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Events newest first, paged with `before`; with `after_seq`, the hash
/// chain oldest first, paged with `next_after_seq`.
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/audit-events", tag = "audit", operation_id = "list_audit_events",
    params(("org_id" = String, Path), AuditParams),
    responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    m: OrgMember<KeyManager>,
    RawQuery(raw): RawQuery,
) -> Result<Json<AuditPage>, ApiError> {
    let p: AuditParams = query_described(raw.as_deref(), PARAMS)?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad_value("limit", PARAMS));
    }
    let client_id = match p.client_id.as_deref() {
        Some(c) => Some(client_id(c).map_err(|_| bad_value("client_id", PARAMS))?),
        None => None,
    };
    let full_page_ends_at = |events: &[keygate_store::AuditEvent]| {
        (events.len() == limit as usize)
            .then(|| events.last().map(|e| e.seq))
            .flatten()
    };
    if let Some(after) = p.after_seq {
        if after < 0 || p.before.is_some() || client_id.is_some() {
            return Err(bad_value("after_seq", PARAMS));
        }
        let events = audit::chain_after(&app, &m.org_id, after, limit).await?;
        return Ok(Json(AuditPage {
            next_after_seq: full_page_ends_at(&events),
            events: events.iter().map(AuditEventView::from).collect(),
            next_before: None,
        }));
    }
    let events = audit::events(&app, &m.org_id, client_id, p.before, limit).await?;
    Ok(Json(AuditPage {
        next_before: full_page_ends_at(&events),
        events: events.iter().map(AuditEventView::from).collect(),
        next_after_seq: None,
    }))
}
