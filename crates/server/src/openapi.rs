//! The OpenAPI 3 document, generated from the handlers' annotations.

use utoipa::OpenApi;

use crate::gateway;
use crate::http::routes::{audit, keys, login, orgs, sessions, two_factor, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keygate",
        description = "API keys, access tokens and scope checks. Management API under /dev/v1 \
                       (session bearer token); API clients log in at /api/v1/authentication/login."
    ),
    paths(
        login::login,
        login::jwks,
        sessions::create,
        sessions::delete,
        sessions::me,
        two_factor::enrol,
        two_factor::confirm,
        two_factor::disable,
        two_factor::sign_in,
        two_factor::get_org,
        two_factor::update_org,
        orgs::list_accounts,
        orgs::create_account,
        orgs::list_members,
        orgs::add_member,
        orgs::update_member,
        orgs::remove_member,
        orgs::resources,
        keys::list,
        keys::generate_admin,
        keys::regenerate_admin,
        keys::create_scoped,
        keys::get_scoped,
        keys::update_scoped,
        keys::regenerate_scoped,
        keys::duplicate_scoped,
        keys::delete_scoped,
        audit::list,
        webhooks::list,
        webhooks::create,
        webhooks::update,
        webhooks::delete,
        webhooks::webhook_deliveries,
        webhooks::deliveries,
        webhooks::redeliver,
        gateway::forward_auth,
        gateway::introspect,
    )
)]
pub struct ApiDoc;

/// `GET /openapi.json`: the document of every surface, so it sits above them.
pub fn router() -> axum::Router {
    axum::Router::new().route("/openapi.json", axum::routing::get(document))
}

async fn document() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
