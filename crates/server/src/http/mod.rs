//! The HTTP surface: routes, extractors, errors and response headers.

pub mod dto;
pub mod error;
pub mod extract;
pub mod layers;
pub mod routes;

use axum::Router;
use axum::routing::{get, post};

use crate::state::app::AppState;
use error::ApiError;
use routes::{
    audit, health, key_policy, keys, leaks, login, metrics, orgs, people, sessions, two_factor,
    usage, webhooks,
};

/// The JSON API's routes: login, JWKS, the management API, the health check
/// and readiness.
pub fn router(app: AppState) -> Router {
    let org = "/dev/v1/orgs/{org_id}";
    Router::new()
        .route("/api/v1/authentication/login", post(login::login))
        .route("/.well-known/jwks.json", get(login::jwks))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/dev/v1/sessions", post(sessions::create))
        .route(
            "/dev/v1/sessions/current",
            axum::routing::delete(sessions::delete),
        )
        .route("/dev/v1/me", get(sessions::me))
        .route(
            "/dev/v1/me/two-factor",
            post(two_factor::enrol).delete(two_factor::disable),
        )
        .route("/dev/v1/me/two-factor/confirm", post(two_factor::confirm))
        .route("/dev/v1/sessions/two-factor", post(two_factor::sign_in))
        .route(org, get(two_factor::get_org).patch(two_factor::update_org))
        .route("/dev/v1/resources", get(orgs::resources))
        .route(
            &format!("{org}/accounts"),
            get(orgs::list_accounts).post(orgs::create_account),
        )
        .route(&format!("{org}/members"), get(orgs::list_members))
        .route(
            &format!("{org}/invitations"),
            get(people::list_invitations).post(people::invite),
        )
        .route(
            &format!("{org}/invitations/{{invitation_id}}"),
            axum::routing::delete(people::withdraw),
        )
        .route("/dev/v1/invitations/accept", post(people::accept))
        .route("/dev/v1/password-resets", post(people::request_reset))
        .route(
            "/dev/v1/password-resets/complete",
            post(people::complete_reset),
        )
        .route("/dev/v1/me/password", post(people::change_password))
        .route("/dev/v1/me/sessions", get(people::sessions))
        .route(
            "/dev/v1/me/sessions/{session_id}",
            axum::routing::delete(people::end_session),
        )
        .route(
            &format!("{org}/members/{{user_id}}"),
            axum::routing::patch(orgs::update_member).delete(orgs::remove_member),
        )
        .route(&format!("{org}/api-keys"), get(keys::list))
        .route(
            &format!("{org}/key-policy"),
            get(key_policy::get).patch(key_policy::update),
        )
        .route(&format!("{org}/admin-keys"), post(keys::generate_admin))
        .route(
            &format!("{org}/admin-keys/{{client_id}}"),
            axum::routing::patch(keys::update_admin),
        )
        .route(
            &format!("{org}/rate-limit"),
            get(orgs::rate_limit).patch(orgs::set_rate_limit),
        )
        .route(
            &format!("{org}/admin-keys/{{client_id}}/regenerate"),
            post(keys::regenerate_admin),
        )
        .route(&format!("{org}/scoped-keys"), post(keys::create_scoped))
        .route(
            &format!("{org}/scoped-keys/{{client_id}}"),
            get(keys::get_scoped)
                .patch(keys::update_scoped)
                .delete(keys::delete_scoped),
        )
        .route(
            &format!("{org}/scoped-keys/{{client_id}}/regenerate"),
            post(keys::regenerate_scoped),
        )
        .route(
            &format!("{org}/scoped-keys/{{client_id}}/duplicate"),
            post(keys::duplicate_scoped),
        )
        .route(&format!("{org}/audit-events"), get(audit::list))
        .route(&format!("{org}/usage"), get(usage::get))
        .route(
            &format!("{org}/webhooks"),
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            &format!("{org}/webhooks/{{webhook_id}}"),
            axum::routing::patch(webhooks::update).delete(webhooks::delete),
        )
        .route(
            &format!("{org}/webhooks/{{webhook_id}}/deliveries"),
            get(webhooks::webhook_deliveries),
        )
        .route(&format!("{org}/deliveries"), get(webhooks::deliveries))
        .route(
            &format!("{org}/deliveries/{{delivery_id}}/redeliver"),
            post(webhooks::redeliver),
        )
        .route("/secret-scanning/github", post(leaks::github))
        .route(
            "/secret-scanning/gitlab/v1/revocable_token_types",
            get(leaks::gitlab_types),
        )
        .route(
            "/secret-scanning/gitlab/v1/revoke_tokens",
            post(leaks::gitlab_revoke),
        )
        .fallback(no_route)
        .with_state(app)
}

/// The metrics listener's routes (`serve --metrics-listen`): `GET /metrics`
/// only; anything else is 404.
pub fn metrics_router(app: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::metrics))
        .fallback(no_route)
        .with_state(app)
}

/// No surface has this path. Only the method and up to 100 characters of the
/// path are said back; the query string never is.
async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    let path = keygate_core::text::clip(uri.path());
    let more = if path.len() < uri.path().len() {
        "…"
    } else {
        ""
    };
    ApiError::NoRoute(format!("no route {method} {path}{more}"))
}
