//! The operator API (`/operator/v1`): the API provider's back office
//! provisions organizations, changes, suspends and resumes them. Operator
//! tokens only (`Authorization: Bearer kgop_…`); no password field.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use keygate_core::time::format_rfc3339;

use crate::http::dto::operator::{
    OperatorAccount, OperatorOrgCreate, OperatorOrgCreated, OperatorOrgPage, OperatorOrgPatch,
    OperatorOrgQuery, OperatorOrgView, OwnerInvitation, SuspendBody, UsageExport, UsageExportQuery,
    UsageExportRow,
};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{JsonBody, OperatorCaller};
use crate::http::routes::query_described;
use crate::service::operator::{self, NewOrg, OrgChange, OrgFilter};
use crate::state::app::AppState;

/// Create an organization; its owner is invited (mailed the link also
/// returned in `owner_invitation.url`).
#[utoipa::path(post, path = "/operator/v1/orgs", tag = "operator", operation_id = "operator_create_org",
    request_body = OperatorOrgCreate,
    responses((status = 201, body = OperatorOrgCreated), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_org(
    State(app): State<AppState>,
    OperatorCaller(op): OperatorCaller,
    JsonBody(body): JsonBody<OperatorOrgCreate>,
) -> Result<(StatusCode, Json<OperatorOrgCreated>), ApiError> {
    let new = NewOrg {
        name: body.name,
        owner_email: body.owner_email,
        accounts: body.accounts,
        external_id: body.external_id,
        plan_id: body.plan_id,
        metadata: body.metadata,
    };
    let c = operator::create_org(&app, &op, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(OperatorOrgCreated {
            org: OperatorOrgView::from(&c.org),
            accounts: c.accounts.iter().map(OperatorAccount::from).collect(),
            owner_invitation: OwnerInvitation {
                invitation_id: c.invitation_id,
                expires_at: format_rfc3339(c.invitation_expires_at),
                url: c.invitation_url,
            },
        }),
    ))
}

/// Organizations by id, filtered, a page at a time.
#[utoipa::path(get, path = "/operator/v1/orgs", tag = "operator", operation_id = "operator_list_orgs",
    params(OperatorOrgQuery),
    responses((status = 200, body = OperatorOrgPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn list_orgs(
    State(app): State<AppState>,
    OperatorCaller(_): OperatorCaller,
    RawQuery(raw): RawQuery,
) -> Result<Json<OperatorOrgPage>, ApiError> {
    let q: OperatorOrgQuery = query_described(
        raw.as_deref(),
        &[
            ("limit", "a whole number from 1 to 200"),
            ("status", "active or suspended"),
        ],
    )?;
    let (orgs, next_cursor) = operator::orgs(
        &app,
        OrgFilter {
            external_id: q.external_id,
            plan_id: q.plan_id,
            status: q.status,
            limit: q.limit,
            cursor: q.cursor,
        },
    )
    .await?;
    Ok(Json(OperatorOrgPage {
        orgs: orgs.iter().map(OperatorOrgView::from).collect(),
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/operator/v1/orgs/{org_id}", tag = "operator", operation_id = "operator_get_org",
    params(("org_id" = String, Path)),
    responses((status = 200, body = OperatorOrgView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_org(
    State(app): State<AppState>,
    OperatorCaller(_): OperatorCaller,
    Path(org_id): Path<String>,
) -> Result<Json<OperatorOrgView>, ApiError> {
    Ok(Json(OperatorOrgView::from(
        &operator::org(&app, &org_id).await?,
    )))
}

/// Change name, external id, plan or metadata (`null` clears external id and plan).
#[utoipa::path(patch, path = "/operator/v1/orgs/{org_id}", tag = "operator", operation_id = "operator_update_org",
    params(("org_id" = String, Path)), request_body = OperatorOrgPatch,
    responses((status = 200, body = OperatorOrgView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_org(
    State(app): State<AppState>,
    OperatorCaller(op): OperatorCaller,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<OperatorOrgPatch>,
) -> Result<Json<OperatorOrgView>, ApiError> {
    let change = OrgChange {
        name: body.name,
        external_id: body.external_id,
        plan_id: body.plan_id,
        metadata: body.metadata,
    };
    let org = operator::update_org(&app, &op, &org_id, change).await?;
    Ok(Json(OperatorOrgView::from(&org)))
}

/// Suspend: the org's keys and tokens get 403 `org_suspended` at once.
#[utoipa::path(post, path = "/operator/v1/orgs/{org_id}/suspend", tag = "operator", operation_id = "operator_suspend_org",
    params(("org_id" = String, Path)), request_body = SuspendBody,
    responses((status = 200, body = OperatorOrgView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn suspend(
    State(app): State<AppState>,
    OperatorCaller(op): OperatorCaller,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<SuspendBody>,
) -> Result<Json<OperatorOrgView>, ApiError> {
    let org = operator::suspend(&app, &op, &org_id, &body.reason).await?;
    Ok(Json(OperatorOrgView::from(&org)))
}

/// Resume: the org's keys work again (none was changed).
#[utoipa::path(post, path = "/operator/v1/orgs/{org_id}/resume", tag = "operator", operation_id = "operator_resume_org",
    params(("org_id" = String, Path)),
    responses((status = 200, body = OperatorOrgView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn resume(
    State(app): State<AppState>,
    OperatorCaller(op): OperatorCaller,
    Path(org_id): Path<String>,
) -> Result<Json<OperatorOrgView>, ApiError> {
    let org = operator::resume(&app, &op, &org_id).await?;
    Ok(Json(OperatorOrgView::from(&org)))
}

/// Token checks per organization and key in a span, for billing; the sums
/// equal what `/dev/v1/orgs/{org_id}/usage` shows for the same span.
#[utoipa::path(get, path = "/operator/v1/usage", tag = "operator", operation_id = "operator_usage",
    params(UsageExportQuery),
    responses((status = 200, body = UsageExport, content_type = "application/json"),
        (status = 200, body = String, content_type = "text/csv"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn usage(
    State(app): State<AppState>,
    OperatorCaller(_): OperatorCaller,
    RawQuery(raw): RawQuery,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let q: UsageExportQuery = query_described(
        raw.as_deref(),
        &[
            ("format", "json or csv"),
            ("from", "an RFC 3339 date-time"),
            ("to", "an RFC 3339 date-time"),
        ],
    )?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::validation("format", "format must be json or csv")),
    };
    let rows: Vec<UsageExportRow> = operator::usage(&app, q.from.as_deref(), q.to.as_deref())
        .await?
        .into_iter()
        .map(|r| UsageExportRow {
            org_id: r.org_id.to_string(),
            external_id: r.external_id,
            client_id: r.client_id.to_string(),
            allowed: r.counts.allowed,
            refused: r.counts.refused(),
        })
        .collect();
    if !csv {
        return Ok(Json(UsageExport { rows }).into_response());
    }
    let mut out = String::from("org_id,external_id,client_id,allowed,refused\n");
    for r in &rows {
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            r.org_id,
            csv_field(r.external_id.as_deref().unwrap_or("")),
            r.client_id,
            r.allowed,
            r.refused
        ));
    }
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        out,
    )
        .into_response())
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180),
/// and with a leading `=`, `+`, `-` or `@` defused for spreadsheets.
fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}
