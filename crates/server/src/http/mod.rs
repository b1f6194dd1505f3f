//! The HTTP surface: routes, extractors, errors and response headers.

pub mod dto;
pub mod error;
pub mod extract;
pub mod routes;

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use tracing::Instrument;

use crate::middleware::body_deadline::{self, Fault};
use crate::middleware::headers;
use crate::state::app::AppState;
use crate::state::metrics::Group;
use crate::state::request_id;
use error::ApiError;
use routes::{
    audit, health, key_policy, keys, leaks, login, metrics, operator, orgs, people, sessions,
    two_factor, usage, webhooks,
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
        .route(
            "/operator/v1/orgs",
            post(operator::create_org).get(operator::list_orgs),
        )
        .route(
            "/operator/v1/orgs/{org_id}",
            get(operator::get_org).patch(operator::update_org),
        )
        .route(
            "/operator/v1/orgs/{org_id}/suspend",
            post(operator::suspend),
        )
        .route("/operator/v1/orgs/{org_id}/resume", post(operator::resume))
        .route("/operator/v1/usage", get(operator::usage))
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

/// What every surface's answers get, put around the composed router by
/// `serve`: the body limit, the JSON answer to a wrong method, the security
/// headers, the request id, the request log and the request metrics.
pub fn common_layers(router: Router, app: AppState) -> Router {
    router
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(middleware::from_fn(header_limit))
        .layer(middleware::from_fn_with_state(app, headers_and_log))
}

/// A request whose body was cut off or broken: 408 (too slow) or 400
/// (malformed), and the connection closed, whatever the surface answered. A
/// surface that answered that status in its own words (the JSON API's
/// `ApiError`, the app's page) keeps its answer; anything else (the gateway's
/// 502 after the upstream lost the body, a plain-text rejection) becomes the
/// JSON error.
fn refused_body(resp: Response, fault: Fault, uri: &axum::http::Uri) -> Response {
    let (status, error) = match fault {
        Fault::Deadline | Fault::TooSlow => (StatusCode::REQUEST_TIMEOUT, ApiError::RequestTimeout),
        Fault::Malformed => (StatusCode::BAD_REQUEST, ApiError::InvalidBody),
    };
    tracing::info!(
        path = %without_token(uri.path()),
        reason = fault.as_str(),
        status = status.as_u16(),
        "request body refused; closing the connection"
    );
    let own_words = resp.status() == status
        && resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/html"));
    let mut resp = if own_words {
        resp
    } else {
        error.into_response()
    };
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// The path as logged: the token of a mailed link (the last segment under
/// `/app/invitations/` or `/app/password-reset/`) is never written to the log.
fn without_token(path: &str) -> String {
    for prefix in ["/app/invitations/", "/app/password-reset/"] {
        if path.starts_with(prefix) && path.len() > prefix.len() {
            return format!("{prefix}…");
        }
    }
    path.to_owned()
}

/// Request headers larger than this in total (names, values and the `: ` and
/// CRLF around them) are refused with 431 `headers_too_large`. hyper's own
/// limits (`cmd/listen.rs`: 256 KiB of head, 1000 headers) sit above these and
/// answer without a body; everything between reaches this check and gets JSON.
pub const HEADER_LIMIT: usize = 32 * 1024;

/// More request header fields than this are refused the same way.
pub const MAX_HEADERS: usize = 100;

/// Longest request target (path and query) accepted: 414 `uri_too_long`.
pub const URI_LIMIT: usize = 8 * 1024;

/// The Airwallex-compatible login, which reads only its own headers.
const LOGIN_PATH: &str = "/api/v1/authentication/login";

async fn header_limit(req: Request, next: Next) -> Response {
    if req.uri().path_and_query().map_or(0, |p| p.as_str().len()) > URI_LIMIT {
        return ApiError::UriTooLong.into_response();
    }
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > HEADER_LIMIT || req.headers().len() > MAX_HEADERS {
        return ApiError::HeadersTooLarge.into_response();
    }
    // The credential of every surface (gateway, forward-auth, introspection,
    // `/dev/v1`, GitLab's revocation calls): with two, Keygate would judge one
    // and a server behind it might read the other. The login ignores
    // `Authorization` (API.md), so it ignores a second one too.
    if req.uri().path() != LOGIN_PATH
        && let Err(e) = headers::one(req.headers(), "authorization")
    {
        return ApiError::from(e).into_response();
    }
    next.run(req).await
}

/// Security headers on every response, and one log line per request with the
/// path only: query strings, headers and bodies are never logged.
///
/// It also sets the request id (`request_id`): taken from a well-formed
/// `x-request-id` or made here, current for the whole request (a span with
/// field `request_id` around every log line, and the task-local that 5xx
/// bodies read their `trace_id` from), and returned as `x-request-id`.
async fn headers_and_log(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = request_id::accept(
        req.headers()
            .get(request_id::HEADER)
            .map(HeaderValue::as_bytes),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(request_id::HEADER, v);
    }
    let span = tracing::info_span!("request", request_id = %id);
    let mut resp =
        request_id::scope(id.clone(), log_request(&app, req, next).instrument(span)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(request_id::HEADER, v);
    }
    resp
}

async fn log_request(app: &AppState, req: Request, next: Next) -> Response {
    let metrics = &app.metrics;
    let started = Instant::now();
    let path = req.uri().path();
    let group = metrics.enabled().then(|| Group::of_path(path));
    // Token checks and proxied calls log at debug level; when that is off (the
    // default) nothing about them is copied or formatted.
    let hot = path.starts_with("/api/") || path.starts_with("/auth/");
    // Proxied answers are the upstream's own; only sniffing is switched off.
    let proxied = path.starts_with("/api/") && path != "/api/v1/authentication/login";
    let log = (!hot || tracing::enabled!(tracing::Level::DEBUG))
        .then(|| (req.method().clone(), without_token(path)));
    // A body that trickles in is cut off (`body_deadline`); a request
    // without one is left as it is.
    let (parts, body) = req.into_parts();
    let (body, body_outcome) = body_deadline::wrap(body, app.settings.body);
    // Kept for the log line of a refused body (a clone of `Bytes`, no copy).
    let uri = body_outcome.as_ref().map(|_| parts.uri.clone());
    let mut resp = next.run(Request::from_parts(parts, body)).await;
    if let (Some(fault), Some(uri)) = (body_outcome.and_then(|o| o.fault()), uri) {
        resp = refused_body(resp, fault, &uri);
    }
    let h = resp.headers_mut();
    let defaults = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ];
    for (name, value) in defaults {
        if (!proxied || name == header::X_CONTENT_TYPE_OPTIONS) && !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    if let Some(group) = group {
        metrics.request(group, resp.status().as_u16(), started.elapsed());
    }
    if let Some((method, path)) = log {
        let status = resp.status().as_u16();
        let micros = started.elapsed().as_micros() as u64;
        if hot {
            tracing::debug!(%method, %path, status, micros, "request");
        } else {
            tracing::info!(%method, %path, status, micros, "request");
        }
    }
    resp
}
