//! Sign in and out, and who am I.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use keygate_core::time::format_rfc3339;

use axum::response::{IntoResponse, Response};

use crate::http::dto::two_factor::TwoFactorChallenge;
use crate::http::dto::{MeView, MembershipView, SessionCreate, SessionCreated, UserView};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ClientInfo, CurrentUser, JsonBody};
use crate::middleware::cookies::{Tls, cookie, set_cookie};
use crate::service::sessions::{NewSession, SignIn};
use crate::service::{orgs, sessions};
use crate::state::app::AppState;
use crate::state::known::{DEVICE_COOKIE, DEVICE_MAX_AGE_SECS};

/// Sign in with email and password; returns a session token for `/dev/v1`
/// (201), or, when the user has two-factor on, a challenge to send with a
/// code to `POST /dev/v1/sessions/two-factor` (200).
///
/// A session also sets the `keygate_device` cookie: a client that keeps
/// cookies and sends it back on later sign-ins is a known device, which keeps
/// signing in while a stranger exhausts the email's failure limit (docs/people.md,
/// "Passwords, sign-in limits and second factors").
///
/// A member whose organization enforces single sign-on (not its owner) gets
/// 403 `sso_required` after a right password (docs/sso.md).
#[utoipa::path(post, path = "/dev/v1/sessions", tag = "sessions", operation_id = "create_session", request_body = SessionCreate,
    responses((status = 201, body = SessionCreated), (status = 200, body = TwoFactorChallenge),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    headers: HeaderMap,
    Tls(tls): Tls,
    client: ClientInfo,
    JsonBody(body): JsonBody<SessionCreate>,
) -> Result<Response, ApiError> {
    let device = cookie(&headers, DEVICE_COOKIE, tls);
    let actor = client.anonymous();
    let signed =
        sessions::sign_in_from(&app, &actor, &body.email, &body.password, device.as_deref())
            .await?;
    Ok(match signed {
        SignIn::Session(s) => created(s, tls),
        SignIn::TwoFactor(c) => Json(TwoFactorChallenge {
            two_factor_required: true,
            challenge: c.token,
            expires_at: format_rfc3339(c.expires_at),
        })
        .into_response(),
    })
}

/// 201 with the session, and the known-device cookie.
pub(crate) fn created(s: NewSession, tls: bool) -> Response {
    let mut set = HeaderMap::new();
    set.insert(
        header::SET_COOKIE,
        set_cookie(DEVICE_COOKIE, &s.device_cookie, DEVICE_MAX_AGE_SECS, tls),
    );
    let body = SessionCreated {
        session_token: s.token,
        expires_at: format_rfc3339(s.expires_at),
        user: UserView::from(&s.user),
    };
    (StatusCode::CREATED, set, Json(body)).into_response()
}

/// Sign out: the session token stops working.
#[utoipa::path(delete, path = "/dev/v1/sessions/current", tag = "sessions", operation_id = "delete_session",
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
