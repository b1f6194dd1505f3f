//! Forward-auth: a proxy in front of the API asks whether a request may pass.
//!
//! One endpoint per proxy, each reading only the headers its proxy sets. A
//! proxy passes the client's other headers through, so an endpoint that read
//! several families would let a caller name the request to be checked: Traefik
//! sets `X-Forwarded-*`, and a client's own `X-Original-*` must not count
//! there. A missing header is a broken proxy config: 400, never a default.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};

use super::check::{allowed_headers, check};
use super::request;
use crate::http::error::{ANSWER_HEADERS, ApiError, ErrorBody};
use crate::middleware::access::ClientAddr;
use crate::middleware::headers;
use crate::state::app::{App, AppState};
use crate::state::metrics::{Check, Surface};

/// The pair of headers one proxy describes the original request with.
struct Family {
    method: HeaderName,
    uri: HeaderName,
    /// As written in messages.
    method_title: &'static str,
    uri_title: &'static str,
    proxy: &'static str,
}

static NGINX: Family = Family {
    method: HeaderName::from_static("x-original-method"),
    uri: HeaderName::from_static("x-original-uri"),
    method_title: "X-Original-Method",
    uri_title: "X-Original-URI",
    proxy: "nginx auth_request",
};

static TRAEFIK: Family = Family {
    method: HeaderName::from_static("x-forwarded-method"),
    uri: HeaderName::from_static("x-forwarded-uri"),
    method_title: "X-Forwarded-Method",
    uri_title: "X-Forwarded-Uri",
    proxy: "Traefik ForwardAuth",
};

/// Forward-auth for nginx `auth_request` (same as `/auth/nginx`): the original
/// request is `X-Original-Method` + `X-Original-URI`; no other header family
/// is read.
#[utoipa::path(get, path = "/auth/verify", tag = "gateway",
    params(
        ("authorization" = String, Header, description = "Bearer <access token>"),
        ("x-original-method" = String, Header, description = "the original request's method, e.g. $request_method"),
        ("x-original-uri" = String, Header, description = "the original request's path and query, e.g. $request_uri"),
    ),
    responses(
        (status = 200, description = "Allowed; identity in x-keygate-client-id, x-keygate-org-id, x-keygate-account-id; \
            for a key with a rate limit, `RateLimit-Policy` and `RateLimit`"),
        (status = 400, description = "a header is missing or sent twice, or a --trusted-proxy's X-Forwarded-For names no address \
            (validation_error), or the path is ambiguous (invalid_path)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 405, description = "a method other than GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", body = ErrorBody),
        (status = 429, description = "the key's rate limit is used up: `Retry-After`, `RateLimit-Policy`, `RateLimit`", body = ErrorBody),
    ))]
pub async fn verify(State(app): State<AppState>, client: ClientAddr, req: Request) -> Response {
    counted(
        &app,
        Surface::Nginx,
        by_headers(&app, client, req, &NGINX).await,
    )
}

/// Forward-auth for nginx `auth_request`: reads only `X-Original-Method` and
/// `X-Original-URI`.
#[utoipa::path(get, path = "/auth/nginx", tag = "gateway",
    params(
        ("authorization" = String, Header, description = "Bearer <access token>"),
        ("x-original-method" = String, Header, description = "$request_method"),
        ("x-original-uri" = String, Header, description = "$request_uri"),
    ),
    responses(
        (status = 200, description = "Allowed; identity in x-keygate-client-id, x-keygate-org-id, x-keygate-account-id; \
            for a key with a rate limit, `RateLimit-Policy` and `RateLimit`"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 405, body = ErrorBody),
        (status = 429, description = "the key's rate limit is used up: `Retry-After`, `RateLimit-Policy`, `RateLimit`", body = ErrorBody),
    ))]
pub async fn nginx(State(app): State<AppState>, client: ClientAddr, req: Request) -> Response {
    counted(
        &app,
        Surface::Nginx,
        by_headers(&app, client, req, &NGINX).await,
    )
}

/// Forward-auth for Traefik ForwardAuth: reads only `X-Forwarded-Method` and
/// `X-Forwarded-Uri` (a client's `X-Original-*` is ignored).
#[utoipa::path(get, path = "/auth/traefik", tag = "gateway",
    params(
        ("authorization" = String, Header, description = "Bearer <access token>"),
        ("x-forwarded-method" = String, Header, description = "set by Traefik"),
        ("x-forwarded-uri" = String, Header, description = "set by Traefik"),
    ),
    responses(
        (status = 200, description = "Allowed; identity in x-keygate-client-id, x-keygate-org-id, x-keygate-account-id; \
            for a key with a rate limit, `RateLimit-Policy` and `RateLimit`"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 405, body = ErrorBody),
        (status = 429, description = "the key's rate limit is used up: `Retry-After`, `RateLimit-Policy`, `RateLimit`", body = ErrorBody),
    ))]
pub async fn traefik(State(app): State<AppState>, client: ClientAddr, req: Request) -> Response {
    counted(
        &app,
        Surface::Traefik,
        by_headers(&app, client, req, &TRAEFIK).await,
    )
}

/// Forward-auth for Envoy ext_authz (HTTP service, `path_prefix: /auth/envoy`):
/// the original request is this request's own method and its path after the
/// prefix, query kept. No `X-Original-*`/`X-Forwarded-*` header is read.
#[utoipa::path(get, path = "/auth/envoy/{path}", tag = "gateway",
    params(
        ("path" = String, Path, description = "the original request's path, e.g. api/v1/balances/current"),
        ("authorization" = String, Header, description = "Bearer <access token>"),
    ),
    responses(
        (status = 200, description = "Allowed; identity in x-keygate-client-id, x-keygate-org-id, x-keygate-account-id; \
            for a key with a rate limit, `RateLimit-Policy` and `RateLimit`"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 405, body = ErrorBody),
        (status = 429, description = "the key's rate limit is used up: `Retry-After`, `RateLimit-Policy`, `RateLimit`", body = ErrorBody),
    ))]
pub async fn envoy(State(app): State<AppState>, client: ClientAddr, req: Request) -> Response {
    let (req, _) = req.into_parts();
    let answer = match req
        .uri
        .path_and_query()
        .and_then(|p| p.as_str().strip_prefix("/auth/envoy"))
    {
        Some(target) => {
            decide(
                &app,
                client,
                &req.headers,
                req.method.as_str(),
                None,
                target,
            )
            .await
        }
        None => Err(ApiError::NotFound),
    };
    counted(&app, Surface::Envoy, answer)
}

/// The answer, its outcome counted in the metrics: every forward-auth answer
/// is Keygate's own, so its status says what became of the check.
fn counted(app: &App, surface: Surface, answer: Result<Response, ApiError>) -> Response {
    let resp = answer.unwrap_or_else(IntoResponse::into_response);
    app.metrics
        .token_check(surface, Check::of_status(resp.status().as_u16()));
    resp
}

async fn by_headers(
    app: &App,
    client: ClientAddr,
    req: Request,
    f: &'static Family,
) -> Result<Response, ApiError> {
    // The parts alone (the body is not `Sync`); read in place, not copied.
    let (req, _) = req.into_parts();
    request::method(req.method.as_str(), None)?;
    let h = &req.headers;
    let method = header(h, &f.method, f.method_title, f.proxy)?;
    let uri = header(h, &f.uri, f.uri_title, f.proxy)?;
    decide(app, client, h, method, Some(f.method.as_str()), uri).await
}

fn header<'a>(
    h: &'a HeaderMap,
    name: &'static HeaderName,
    title: &str,
    proxy: &str,
) -> Result<&'a str, ApiError> {
    let name_text = name.as_str();
    // Sent twice, the proxy and Keygate could each read another one.
    let value = headers::one(h, name)?.ok_or_else(|| {
        ApiError::validation(
            name_text,
            format!("the {title} header is missing; {proxy} must set it on this endpoint"),
        )
    })?;
    match value.to_str() {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim()),
        Ok(_) => Err(ApiError::validation(
            name_text,
            format!("the {title} header is empty; {proxy} must set it on this endpoint"),
        )),
        Err(_) => Err(ApiError::validation(
            name_text,
            format!("the {title} header is not plain ASCII text"),
        )),
    }
}

async fn decide(
    app: &App,
    client: ClientAddr,
    h: &HeaderMap,
    method: &str,
    method_source: Option<&'static str>,
    uri: &str,
) -> Result<Response, ApiError> {
    request::method(method, method_source)?;
    let path = request::path(uri)?;
    let allowed = check(app, h, method, path, client.ip()?).await?;
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut().reserve(ANSWER_HEADERS);
    allowed_headers(&allowed, resp.headers_mut());
    Ok(resp)
}
