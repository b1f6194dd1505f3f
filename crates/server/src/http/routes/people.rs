//! Invitations, password reset and change, and one's own sessions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keygate_core::time::format_rfc3339;

use crate::http::dto::people::{
    InvitationAccept, InvitationCreate, InvitationView, PasswordChange, PasswordResetComplete,
    PasswordResetRequest, PasswordResetRequested, SessionView,
};
use crate::http::dto::{PasswordConfirmation, SessionCreated, UserView};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ClientInfo, CurrentUser, JsonBody, OrgManager, OrgMember};
use crate::service::{account, invitations};
use crate::state::app::AppState;

/// Invite someone by email (owner, admin). The link goes by mail; the answer
/// is the same whether or not the email has an account.
#[utoipa::path(post, path = "/dev/v1/orgs/{org_id}/invitations", tag = "people",
    params(("org_id" = String, Path)), request_body = InvitationCreate,
    responses((status = 201, body = InvitationView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn invite(
    State(app): State<AppState>,
    m: OrgMember<OrgManager>,
    JsonBody(body): JsonBody<InvitationCreate>,
) -> Result<(StatusCode, Json<InvitationView>), ApiError> {
    let i = invitations::invite(
        &app,
        &m.acting(),
        &body.email,
        &body.role,
        body.password.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationView::from(&i.invitation)),
    ))
}

/// Pending invitations (owner, admin).
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/invitations", tag = "people",
    params(("org_id" = String, Path)),
    responses((status = 200, body = Vec<InvitationView>), (status = 403, body = ErrorBody)))]
pub async fn list_invitations(
    State(app): State<AppState>,
    m: OrgMember<OrgManager>,
) -> Result<Json<Vec<InvitationView>>, ApiError> {
    let list = invitations::pending(&app, &m.org_id).await?;
    Ok(Json(list.iter().map(InvitationView::from).collect()))
}

/// Withdraw a pending invitation (owner, admin): its link stops working.
#[utoipa::path(delete, path = "/dev/v1/orgs/{org_id}/invitations/{invitation_id}", tag = "people",
    params(("org_id" = String, Path), ("invitation_id" = String, Path)), request_body = PasswordConfirmation,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn withdraw(
    State(app): State<AppState>,
    m: OrgMember<OrgManager>,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<PasswordConfirmation>,
) -> Result<StatusCode, ApiError> {
    invitations::withdraw(&app, &m.acting(), &id, body.password.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accept an invitation: creates the account (new email) or proves it (its
/// current password), adds the membership and signs in.
#[utoipa::path(post, path = "/dev/v1/invitations/accept", tag = "people", request_body = InvitationAccept,
    responses((status = 201, body = SessionCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn accept(
    State(app): State<AppState>,
    client: ClientInfo,
    JsonBody(body): JsonBody<InvitationAccept>,
) -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
    let s = invitations::accept(
        &app,
        &client.anonymous(),
        &body.token,
        &body.password,
        body.code.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionCreated {
            session_token: s.token,
            expires_at: format_rfc3339(s.expires_at),
            user: UserView::from(&s.user),
        }),
    ))
}

/// Ask for a password reset link by mail. Always 202 with the same body.
#[utoipa::path(post, path = "/dev/v1/password-resets", tag = "people", request_body = PasswordResetRequest,
    responses((status = 202, body = PasswordResetRequested), (status = 429, body = ErrorBody)))]
pub async fn request_reset(
    State(app): State<AppState>,
    client: ClientInfo,
    JsonBody(body): JsonBody<PasswordResetRequest>,
) -> Result<(StatusCode, Json<PasswordResetRequested>), ApiError> {
    account::request_reset(&app, &client.anonymous(), &body.email).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(PasswordResetRequested {
            message: "If this email has an account, a reset link is on its way.",
        }),
    ))
}

/// Set a new password with a reset link's token; every session of the user ends.
#[utoipa::path(post, path = "/dev/v1/password-resets/complete", tag = "people", request_body = PasswordResetComplete,
    responses((status = 204), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "`unauthorized`: the user has two-factor sign-in on and `code` is missing or wrong"),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn complete_reset(
    State(app): State<AppState>,
    client: ClientInfo,
    JsonBody(body): JsonBody<PasswordResetComplete>,
) -> Result<StatusCode, ApiError> {
    account::complete_reset(
        &app,
        &client.anonymous(),
        &body.token,
        &body.new_password,
        body.code.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change your password; your other sessions end.
#[utoipa::path(post, path = "/dev/v1/me/password", tag = "people", request_body = PasswordChange,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn change_password(
    State(app): State<AppState>,
    me: CurrentUser,
    JsonBody(body): JsonBody<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    account::change_password(
        &app,
        &me.user,
        &me.actor(),
        &me.session_hash,
        body.password.as_deref(),
        &body.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your live sessions, newest first.
#[utoipa::path(get, path = "/dev/v1/me/sessions", tag = "people",
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = ErrorBody)))]
pub async fn sessions(
    State(app): State<AppState>,
    me: CurrentUser,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let list = account::sessions(&app, &me.user.user_id).await?;
    Ok(Json(
        list.iter()
            .map(|s| SessionView::new(s, &me.session_id))
            .collect(),
    ))
}

/// End one of your sessions (another user's: 404).
#[utoipa::path(delete, path = "/dev/v1/me/sessions/{session_id}", tag = "people",
    params(("session_id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn end_session(
    State(app): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    account::end_session(&app, &me.user, &me.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
