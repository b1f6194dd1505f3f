//! Accounts, members and the resource catalog. Every change needs the user's
//! current password in the body, like key actions: a session token alone must
//! not be able to add a member it then signs in as.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keygate_core::{Level, UserId};

use crate::http::dto::keys::{
    OrgRateLimitPatch, OrgRateLimitView, RateLimitDto, ResourceView, limit_change,
};
use crate::http::dto::{AccountCreate, AccountView, MemberPatch, MemberView, PasswordConfirmation};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AnyMember, CurrentUser, JsonBody, OrgManager, OrgMember};
use crate::service::orgs;
use crate::state::app::AppState;

fn user_id(s: &str) -> Result<UserId, ApiError> {
    UserId::parse(s).map_err(|_| ApiError::NotFound)
}

/// The organization's accounts.
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/accounts", tag = "organizations",
    params(("org_id" = String, Path)),
    responses((status = 200, body = Vec<AccountView>), (status = 404, body = ErrorBody)))]
pub async fn list_accounts(
    State(app): State<AppState>,
    m: OrgMember<AnyMember>,
) -> Result<Json<Vec<AccountView>>, ApiError> {
    let accounts = orgs::accounts(&app, &m.org_id).await?;
    Ok(Json(accounts.iter().map(AccountView::from).collect()))
}

/// Create an account (owner, admin).
#[utoipa::path(post, path = "/dev/v1/orgs/{org_id}/accounts", tag = "organizations",
    params(("org_id" = String, Path)), request_body = AccountCreate,
    responses((status = 201, body = AccountView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_account(
    State(app): State<AppState>,
    m: OrgMember<OrgManager>,
    JsonBody(body): JsonBody<AccountCreate>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    let password = body.password.as_deref();
    let a = orgs::create_account(&app, &m.acting(), &body.name, password).await?;
    Ok((StatusCode::CREATED, Json(AccountView::from(&a))))
}

/// Members and their roles (owner, admin).
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/members", tag = "organizations",
    params(("org_id" = String, Path)),
    responses((status = 200, body = Vec<MemberView>), (status = 403, body = ErrorBody)))]
pub async fn list_members(
    State(app): State<AppState>,
    m: OrgMember<OrgManager>,
) -> Result<Json<Vec<MemberView>>, ApiError> {
    let members = orgs::members(&app, &m.org_id).await?;
    Ok(Json(members.iter().map(MemberView::from).collect()))
}

/// Change a member's role (owner, admin; not the owner's).
#[utoipa::path(patch, path = "/dev/v1/orgs/{org_id}/members/{user_id}", tag = "organizations",
    params(("org_id" = String, Path), ("user_id" = String, Path)), request_body = MemberPatch,
    responses((status = 200, body = MemberView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn update_member(
    State(app): State<AppState>,
    m: OrgMember<OrgManager>,
    Path((_, user)): Path<(String, String)>,
    JsonBody(body): JsonBody<MemberPatch>,
) -> Result<Json<MemberView>, ApiError> {
    let member = orgs::set_role(
        &app,
        &m.acting(),
        &user_id(&user)?,
        &body.role,
        body.password.as_deref(),
    )
    .await?;
    Ok(Json(MemberView::from(&member)))
}

/// Remove a member (owner, admin; the owner cannot be removed).
#[utoipa::path(delete, path = "/dev/v1/orgs/{org_id}/members/{user_id}", tag = "organizations",
    params(("org_id" = String, Path), ("user_id" = String, Path)), request_body = PasswordConfirmation,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_member(
    State(app): State<AppState>,
    m: OrgMember<OrgManager>,
    Path((_, user)): Path<(String, String)>,
    JsonBody(body): JsonBody<PasswordConfirmation>,
) -> Result<StatusCode, ApiError> {
    orgs::remove(
        &app,
        &m.acting(),
        &user_id(&user)?,
        body.password.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The resource catalog: what permissions can name.
#[utoipa::path(get, path = "/dev/v1/resources", tag = "keys",
    responses((status = 200, body = Vec<ResourceView>), (status = 401, body = ErrorBody)))]
pub async fn resources(
    State(app): State<AppState>,
    _signed_in: CurrentUser,
) -> Json<Vec<ResourceView>> {
    Json(
        app.catalog
            .resources()
            .iter()
            .map(|r| ResourceView {
                name: r.name.clone(),
                level: match r.level {
                    Level::Org => "org",
                    Level::Account => "account",
                }
                .to_owned(),
                description: r.description.clone(),
                routes: r.routes.clone(),
            })
            .collect(),
    )
}

/// The default rate limit of the organization's keys (those without their own).
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/rate-limit", tag = "organizations", operation_id = "get_org_rate_limit",
    params(("org_id" = String, Path)),
    responses((status = 200, body = OrgRateLimitView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rate_limit(
    State(app): State<AppState>,
    m: OrgMember<AnyMember>,
) -> Result<Json<OrgRateLimitView>, ApiError> {
    let limit = orgs::rate_limit(&app, &m.org_id).await?;
    Ok(Json(OrgRateLimitView {
        rate_limit: limit.map(RateLimitDto::from),
    }))
}

/// Set (or with `null` clear) the default rate limit of the organization's
/// keys (owner, admin). Keys with a limit of their own keep it.
#[utoipa::path(patch, path = "/dev/v1/orgs/{org_id}/rate-limit", tag = "organizations", operation_id = "set_org_rate_limit",
    params(("org_id" = String, Path)), request_body = OrgRateLimitPatch,
    responses((status = 200, body = OrgRateLimitView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_rate_limit(
    State(app): State<AppState>,
    m: OrgMember<OrgManager>,
    JsonBody(body): JsonBody<OrgRateLimitPatch>,
) -> Result<Json<OrgRateLimitView>, ApiError> {
    let change = limit_change(body.rate_limit)?;
    let password = body.password.as_deref();
    let limit = orgs::set_rate_limit(&app, &m.acting(), change, password).await?;
    Ok(Json(OrgRateLimitView {
        rate_limit: limit.map(RateLimitDto::from),
    }))
}
