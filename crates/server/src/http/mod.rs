//! The HTTP surface: routes, extractors, errors and response headers.

pub mod dto;
pub mod error;
pub mod extract;
pub mod layers;
pub mod routes;

use axum::Router;
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::app::AppState;
use error::ApiError;
use routes::{
    audit, audit_streams, health, key_policy, keys, leaks, login, metrics, oauth, operator,
    operator_webhooks, orgs, passkeys, people, plans, sessions, sso, two_factor, usage, webhooks,
};

/// The JSON API's documented routes: login, JWKS, the management API, the
/// health check, readiness and the leak intake. Each path and method is the
/// one in the handler's `#[utoipa::path]`, which also puts it in
/// `/openapi.json` (`openapi::document`); handlers on one line share a path.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login::login))
        .routes(routes!(login::jwks))
        .routes(routes!(oauth::token))
        .routes(routes!(oauth::metadata))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(sessions::create))
        .routes(routes!(sessions::delete))
        .routes(routes!(sessions::me))
        .routes(routes!(two_factor::enrol, two_factor::disable))
        .routes(routes!(two_factor::confirm))
        .routes(routes!(two_factor::sign_in))
        .routes(routes!(two_factor::get_org, two_factor::update_org))
        .routes(routes!(passkeys::registration_options))
        .routes(routes!(passkeys::register, passkeys::list))
        .routes(routes!(passkeys::remove))
        .routes(routes!(passkeys::sign_in_options))
        .routes(routes!(passkeys::sign_in))
        .routes(routes!(orgs::resources))
        .routes(routes!(orgs::list_accounts, orgs::create_account))
        .routes(routes!(orgs::list_members))
        .routes(routes!(people::list_invitations, people::invite))
        .routes(routes!(people::withdraw))
        .routes(routes!(people::accept))
        .routes(routes!(people::request_reset))
        .routes(routes!(people::complete_reset))
        .routes(routes!(people::change_password))
        .routes(routes!(people::sessions))
        .routes(routes!(people::end_session))
        .routes(routes!(orgs::update_member, orgs::remove_member))
        .routes(routes!(keys::list))
        .routes(routes!(key_policy::get, key_policy::update))
        .routes(routes!(keys::generate_admin))
        .routes(routes!(keys::update_admin))
        .routes(routes!(orgs::rate_limit, orgs::set_rate_limit))
        .routes(routes!(keys::regenerate_admin))
        .routes(routes!(keys::create_scoped))
        .routes(routes!(
            keys::get_scoped,
            keys::update_scoped,
            keys::delete_scoped
        ))
        .routes(routes!(keys::regenerate_scoped))
        .routes(routes!(keys::duplicate_scoped))
        .routes(routes!(audit::list))
        .routes(routes!(audit_streams::list, audit_streams::create))
        .routes(routes!(audit_streams::get, audit_streams::delete))
        .routes(routes!(sso::put, sso::get, sso::delete))
        .routes(routes!(usage::get))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::webhook_deliveries))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(operator::create_org, operator::list_orgs))
        .routes(routes!(operator::get_org, operator::update_org))
        .routes(routes!(operator::suspend))
        .routes(routes!(operator::resume))
        .routes(routes!(operator::usage))
        .routes(routes!(operator_webhooks::create, operator_webhooks::list))
        .routes(routes!(operator_webhooks::delete))
        .routes(routes!(plans::list_plans))
        .routes(routes!(
            plans::put_plan,
            plans::get_plan,
            plans::delete_plan
        ))
        .routes(routes!(leaks::github))
        .routes(routes!(leaks::gitlab_types))
        .routes(routes!(leaks::gitlab_revoke))
}

/// The JSON API's router: [`routes`], and the JSON 404 for a path no surface
/// has.
pub fn router(app: AppState) -> Router {
    let (router, _document) = routes().split_for_parts();
    router.fallback(no_route).with_state(app)
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
