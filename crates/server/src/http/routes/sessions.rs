//! Sign in and out, and who am I.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keygate_core::time::format_rfc3339;

use crate::app::AppState;
use axum::response::{IntoResponse, Response};

use crate::http::dto::two_factor::TwoFactorChallenge;
use crate::http::dto::{MeView, MembershipView, SessionCreate, SessionCreated, UserView};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ClientInfo, CurrentUser, JsonBody};
use crate::service::sessions::SignIn;
use crate::service::{orgs, sessions};

/// Sign in with email and password; returns a session token for `/dev/v1`
/// (201), or, when the user has two-factor on, a challenge to send with a
/// code to `POST /dev/v1/sessions/two-factor` (200).
#[utoipa::path(post, path = "/dev/v1/sessions", tag = "sessions", request_body = SessionCreate,
    responses((status = 201, body = SessionCreated), (status = 200, body = TwoFactorChallenge),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    client: ClientInfo,
    JsonBody(body): JsonBody<SessionCreate>,
) -> Result<Response, ApiError> {
    let signed = sessions::sign_in(&app, &client.anonymous(), &body.email, &body.password).await?;
    Ok(match signed {
        SignIn::Session(s) => (StatusCode::CREATED, Json(SessionCreated::from(s))).into_response(),
        SignIn::TwoFactor(c) => Json(TwoFactorChallenge {
            two_factor_required: true,
            challenge: c.token,
            expires_at: format_rfc3339(c.expires_at),
        })
        .into_response(),
    })
}

/// Sign out: the session token stops working.
#[utoipa::path(delete, path = "/dev/v1/sessions/current", tag = "sessions",
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn delete(State(app): State<AppState>, me: CurrentUser) -> Result<StatusCode, ApiError> {
    sessions::sign_out(&app, &me.session_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user and their organizations.
#[utoipa::path(get, path = "/dev/v1/me", tag = "sessions",
    responses((status = 200, body = MeView), (status = 401, body = ErrorBody)))]
pub async fn me(State(app): State<AppState>, me: CurrentUser) -> Result<Json<MeView>, ApiError> {
    let memberships = orgs::memberships(&app, &me.user.user_id).await?;
    Ok(Json(MeView {
        user: UserView::from(&me.user),
        memberships: memberships.iter().map(MembershipView::from).collect(),
    }))
}
