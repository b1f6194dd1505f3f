//! The OpenAPI 3 document, generated from the handlers' annotations.

use utoipa::OpenApi;

use crate::gateway;
use crate::gateway::forward_auth;
use crate::http::routes::{audit, keys, login, orgs, people, sessions, two_factor, webhooks};

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
        people::invite,
        people::list_invitations,
        people::withdraw,
        people::accept,
        people::request_reset,
        people::complete_reset,
        people::change_password,
        people::sessions,
        people::end_session,
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
        forward_auth::verify,
        forward_auth::nginx,
        forward_auth::traefik,
        forward_auth::envoy,
        gateway::introspect::introspect,
    ),
    modifiers(&SessionBearer)
)]
pub struct ApiDoc;

/// `/dev/v1/**` (but signing in and the steps before a session) takes the session token as
/// `Authorization: Bearer` only; the Developer app's cookie is not accepted.
struct SessionBearer;

impl utoipa::Modify for SessionBearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "The `session_token` of `POST /dev/v1/sessions`. Only this header: the \
                 Developer app's `keygate_session` cookie is never accepted here. Every \
                 change also needs the user's current password in the JSON body (`password`), \
                 and bodies need `Content-Type: application/json` (else 415).",
            ))
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "session",
                utoipa::openapi::security::SecurityScheme::Http(scheme),
            );
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/dev/v1/") {
                continue;
            }
            // Signing in, accepting an invitation and resetting a forgotten
            // password happen before there is a session.
            let signing_in = [
                "/dev/v1/sessions",
                "/dev/v1/invitations/accept",
                "/dev/v1/password-resets",
                "/dev/v1/password-resets/complete",
            ]
            .contains(&path.as_str());
            let ops = [
                (&mut item.get, false),
                (&mut item.post, signing_in),
                (&mut item.put, false),
                (&mut item.patch, false),
                (&mut item.delete, false),
            ];
            for (op, public) in ops {
                if let Some(op) = op.as_mut().filter(|_| !public) {
                    op.security = Some(vec![SecurityRequirement::new(
                        "session",
                        Vec::<String>::new(),
                    )]);
                }
            }
        }
    }
}

/// `GET /openapi.json`: the document of every surface, so it sits above them.
pub fn router() -> axum::Router {
    axum::Router::new().route("/openapi.json", axum::routing::get(document))
}

async fn document() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
