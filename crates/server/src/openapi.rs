//! The OpenAPI 3 document, generated from the handlers' annotations.

use std::sync::LazyLock;

use utoipa::{Modify, OpenApi};

use crate::gateway;
use crate::http;

/// What the document says beyond its paths: its title and description.
#[derive(OpenApi)]
#[openapi(info(
    title = "Keygate",
    description = "API keys, access tokens and scope checks. Management API under /dev/v1 \
                   (session bearer token); API clients log in at /api/v1/authentication/login."
))]
struct ApiDoc;

/// The document: the paths and schemas of the routers of `http` and
/// `gateway` (each route's `#[utoipa::path]`, routed by `routes!`), then the
/// rules below, which add what every route shares (security schemes, the
/// edge's answers, descriptions).
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(http::routes().into_openapi());
    doc.merge(gateway::routes().into_openapi());
    let rules: [&dyn Modify; 4] = [
        &SessionBearer,
        &CallerSchemes,
        &EdgeResponses,
        &ResponseDescriptions,
    ];
    for rule in rules {
        rule.modify(&mut doc);
    }
    doc
}

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

/// The login's key (`x-client-id` and `x-api-key` together) and introspection's HTTP Basic
/// secret, as security schemes, so generated clients know how to authenticate.
struct CallerSchemes;

impl utoipa::Modify for CallerSchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "client_id",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-client-id",
                "The key's client id; sent together with `x-api-key`.",
            ))),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "The API key (`kg_<env>_…`); sent together with `x-client-id`.",
            ))),
        );
        let basic = HttpBuilder::new()
            .scheme(HttpAuthScheme::Basic)
            .description(Some(
                "Any user name; the password is the secret given to `keygate serve \
                 --introspection-secret`. Without that flag introspection is off (401).",
            ))
            .build();
        components.add_security_scheme("introspection", SecurityScheme::Http(basic));
        let gitlab = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "The token given to `keygate serve --gitlab-revocation-token`, as GitLab's \
                 token revocation API sends it. Without that flag these routes are off (404).",
            ))
            .build();
        components.add_security_scheme("gitlab_revocation", SecurityScheme::Http(gitlab));
        let operator = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An operator token (`kgop_…`) from `keygate operator token create`; only on \
                 `/operator/v1`, where sessions, API keys and access tokens get 401.",
            ))
            .build();
        components.add_security_scheme("operator", SecurityScheme::Http(operator));
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/operator/v1/") {
                continue;
            }
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                op.security = Some(vec![SecurityRequirement::new(
                    "operator",
                    Vec::<String>::new(),
                )]);
            }
        }
        let gitlab_routes = [
            "/secret-scanning/gitlab/v1/revocable_token_types",
            "/secret-scanning/gitlab/v1/revoke_tokens",
        ];
        for path in gitlab_routes {
            if let Some(item) = doc.paths.paths.get_mut(path) {
                for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                    op.security = Some(vec![SecurityRequirement::new(
                        "gitlab_revocation",
                        Vec::<String>::new(),
                    )]);
                }
            }
        }
        let key = SecurityRequirement::new("client_id", Vec::<String>::new())
            .add("api_key", Vec::<String>::new());
        let wanted = [
            ("/api/v1/authentication/login", key),
            (
                "/oauth/introspect",
                SecurityRequirement::new("introspection", Vec::<String>::new()),
            ),
        ];
        for (path, requirement) in wanted {
            if let Some(op) = doc.paths.paths.get_mut(path).and_then(|i| i.post.as_mut()) {
                op.security = Some(vec![requirement]);
            }
        }
    }
}

/// The answers any route may give, whatever its handler does, added where an
/// annotation does not already say them: the edge's limits on every route
/// (400 for a repeated `Authorization` or an unreadable `X-Forwarded-For`,
/// 414, 431) and the errors of the server (`5XX`: `internal_error` or
/// `unavailable`, with a `trace_id`); for a route that takes a body, a body
/// that cannot be read (400, 408, 413, 415); for a route that needs a session,
/// a missing or ended one (401), and with a body (a change, confirmed with the
/// password) too many failed confirmations (429); for a route with query
/// parameters, a bad one (400); under an organization, a role that does not
/// allow it or a missing second factor (403) and not being a member (404). Tests hold every answer against the
/// document (`tests/api/openapi_check.rs`).
struct EdgeResponses;

impl utoipa::Modify for EdgeResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        let everywhere = [
            (
                "400",
                "`validation_error`: `Authorization` sent more than once (`source` \
                 `authorization`), or, behind a `--trusted-proxy`, an `X-Forwarded-For` that \
                 names no address (`source` `x-forwarded-for`)",
            ),
            (
                "414",
                "`uri_too_long`: the path and query are longer than 8 KiB",
            ),
            (
                "431",
                "`headers_too_large`: more than 32 KiB of headers, or more than 100",
            ),
            (
                "5XX",
                "`internal_error` (500) or `unavailable` (503), with a `trace_id` to quote",
            ),
        ];
        let with_body = [
            (
                "400",
                "`validation_error` (`source` names the field), `invalid_json`, or `invalid_body` \
                 (broken framing)",
            ),
            (
                "408",
                "`request_timeout`: the body did not arrive within `--body-timeout`, or came \
                 slower than `--body-min-rate`; the connection is closed",
            ),
            ("413", "`payload_too_large`: the body is over 64 KiB"),
            (
                "415",
                "`unsupported_media_type`: the body is not sent as `application/json`",
            ),
        ];
        for (path, item) in doc.paths.paths.iter_mut() {
            let in_org = path.starts_with("/dev/v1/orgs/{org_id}");
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                let has_body = op.request_body.is_some();
                let has_query = op.parameters.iter().flatten().any(|p| {
                    matches!(p, RefOr::T(p)
                        if matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
                });
                let session = op.security.iter().flatten().any(|s| {
                    serde_json::to_value(s)
                        .ok()
                        .is_some_and(|v| v.get("session").is_some())
                });
                let responses = &mut op.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description));
                };
                for (status, description) in everywhere {
                    add(status, description);
                }
                if has_body {
                    for (status, description) in with_body {
                        add(status, description);
                    }
                }
                if session {
                    add(
                        "401",
                        "`unauthorized`: the session token is missing, expired or ended",
                    );
                }
                if has_query {
                    add(
                        "400",
                        "`validation_error`: a query parameter is unknown, repeated or out of \
                         range (`source` names it)",
                    );
                }
                if in_org {
                    add(
                        "403",
                        "`forbidden` (the member's role does not allow it) or \
                         `two_factor_required` (the organization requires two-factor sign-in)",
                    );
                    add(
                        "404",
                        "`not_found`: no such object in this organization, or not a member of it",
                    );
                }
                if session && has_body {
                    add(
                        "429",
                        "`too_many_requests`: too many failed password confirmations; wait for \
                         `Retry-After` seconds",
                    );
                }
            }
        }
    }
}

/// OpenAPI requires a `description` on every response; an annotation that gives none gets
/// the meaning of its status from the error table of the API (code in the body).
struct ResponseDescriptions;

impl utoipa::Modify for ResponseDescriptions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        for item in doc.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
                &mut item.head,
                &mut item.options,
            ];
            for op in ops.into_iter().flatten() {
                for (status, response) in op.responses.responses.iter_mut() {
                    if let RefOr::T(r) = response
                        && r.description.trim().is_empty()
                    {
                        r.description = status_meaning(status).to_string();
                    }
                }
            }
        }
    }
}

fn status_meaning(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted: the work happens in the background",
        "204" => "Done; no body",
        "400" => "`validation_error` (`source` names the field or header) or `invalid_json`",
        "401" => {
            "`unauthorized` (bad key, client id, token or session: one body for all) or \
             `password_confirmation_failed`"
        }
        "403" => "`forbidden`: the role or scope does not allow it",
        "404" => "`not_found` (also for objects of another organization)",
        "405" => "`method_not_allowed`",
        "409" => "`conflict`",
        "429" => "`too_many_requests`; wait for `Retry-After` seconds",
        "503" => "`unavailable`, with a `trace_id`",
        _ => "See the error body's `code` and `message`",
    }
}

/// What the pages of `/docs` may load: the Swagger UI files served here
/// (bundled into the binary at build time by `utoipa-swagger-ui`), inline
/// styles (Swagger UI injects a `<style>`; without `'unsafe-inline'` Chromium
/// blocks it, as the `/docs` browser test shows), data: images (its icons)
/// and fetches back to this origin (`/openapi.json`, "Try it out"). Nothing
/// from elsewhere.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// `GET /openapi.json`: the document of every surface, so it sits above them;
/// and the API reference at `/docs` (Swagger UI reading the
/// live `/openapi.json`; `/docs` redirects to `/docs/`).
pub fn router() -> axum::Router {
    use axum::http::{HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    let ui = utoipa_swagger_ui::SwaggerUi::new("/docs").config(
        // No validator badge: it would send the document to a third party.
        utoipa_swagger_ui::Config::from("/openapi.json").validator_url("none"),
    );
    let docs = axum::Router::from(ui).layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    ));
    axum::Router::new()
        .route("/openapi.json", axum::routing::get(serve_document))
        .merge(docs)
}

/// Built once, on the first request.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(document);

async fn serve_document() -> axum::Json<&'static utoipa::openapi::OpenApi> {
    axum::Json(&DOCUMENT)
}
