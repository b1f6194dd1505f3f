//! Usage of the organization's keys.

use axum::Json;
use axum::extract::{RawQuery, State};
use keygate_core::time::parse_rfc3339;
use serde::Deserialize;

use crate::http::dto::usage::{UsageBucketView, UsageView};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{KeyManager, OrgMember};
use crate::http::routes::{bad_value, client_id, query_described};
use crate::service::usage::{self, Granularity, Span};
use crate::state::app::AppState;

const PARAMS: &[(&str, &str)] = &[
    ("client_id", "a client id"),
    ("from", "an RFC 3339 time, e.g. 2026-05-12T00:00:00Z"),
    ("to", "an RFC 3339 time, e.g. 2026-05-12T00:00:00Z"),
    ("granularity", "minute, hour or day"),
];

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    /// Only this key (default: every key of the organization, summed).
    client_id: Option<String>,
    /// RFC 3339; rounded down to the granularity. Default: 24 hours before `to`.
    from: Option<String>,
    /// RFC 3339, exclusive; rounded up to the granularity. Default: now.
    to: Option<String>,
    /// `minute` (spans up to 7 days, kept 30 days), `hour` (up to 31 days,
    /// from the minute counts) or `day` (UTC days, up to 400 days, kept 13
    /// months). Default `hour`.
    granularity: Option<String>,
}

/// Token checks at the gateway and forward-auth per minute, hour or day:
/// allowed, and refused by reason. Logins are not calls. Each instance writes
/// its counts every `--usage-flush-interval` (default 5 s), so the last
/// seconds may not be in yet.
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/usage", tag = "usage", operation_id = "get_usage",
    params(("org_id" = String, Path), UsageParams),
    responses((status = 200, body = UsageView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    m: OrgMember<KeyManager>,
    RawQuery(raw): RawQuery,
) -> Result<Json<UsageView>, ApiError> {
    let p: UsageParams = query_described(raw.as_deref(), PARAMS)?;
    let time = |name: &str, v: Option<&str>| match v {
        Some(v) => parse_rfc3339(v)
            .map(Some)
            .ok_or_else(|| bad_value(name, PARAMS)),
        None => Ok(None),
    };
    let span = Span {
        from: time("from", p.from.as_deref())?,
        to: time("to", p.to.as_deref())?,
        granularity: match p.granularity.as_deref() {
            None => Granularity::Hour,
            Some(g) => Granularity::parse(g).ok_or_else(|| bad_value("granularity", PARAMS))?,
        },
    };
    let client_id = match p.client_id.as_deref() {
        Some(c) => Some(client_id(c)?),
        None => None,
    };
    let buckets = usage::usage(&app, &m.org_id, client_id.as_ref(), &span).await?;
    Ok(Json(UsageView {
        buckets: buckets.iter().map(UsageBucketView::from).collect(),
    }))
}
