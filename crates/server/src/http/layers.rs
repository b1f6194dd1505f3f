//! The layers around every surface (JSON API, Developer app, gateway, docs),
//! put around the composed router by `serve`: the limits on the request's
//! head, the body limit and deadline, the JSON answer to a wrong method, the
//! security headers, the request id, the request log and the request metrics.
//! They answer with the JSON API's `ApiError`, so they live in `http`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer as _, Service, ServiceExt as _};

use tracing::Instrument;

use super::error::ApiError;
use super::extract;
use crate::middleware::body_deadline::{self, Fault};
use crate::middleware::headers;
use crate::state::app::AppState;
use crate::state::metrics::Group;
use crate::state::request_id;

/// What every surface's answers get, put around the composed router by
/// `serve`: the body limit, the JSON answer to a wrong method, the security
/// headers, the request id, the request log and the request metrics.
pub fn common_layers(router: Router, app: AppState) -> Common {
    Common {
        app,
        router: router.method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed }),
    }
}

/// The common layers as one service around the whole router, which
/// `cmd::listen` serves. Put on the router with `Router::layer` (axum's
/// `from_fn` and `DefaultBodyLimit`), they wrapped every route instead: each
/// request then cloned the boxed services of its route's stack (eight
/// allocations) and boxed three futures more. Here a request boxes one, and
/// the router (an `Arc`) is cloned, not copied.
#[derive(Clone)]
pub struct Common {
    app: AppState,
    router: Router,
}

impl<B> Service<axum::http::Request<B>> for Common
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        let (app, router) = (self.app.clone(), self.router.clone());
        Box::pin(async move { Ok(headers_and_log(app, req.map(Body::new), router).await) })
    }
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
/// limit on a head's size (`cmd/listen.rs`: 256 KiB) sits above it; anything
/// between reaches this check and gets JSON, and `cmd/listen.rs` writes the
/// same JSON in place of hyper's empty 431 beyond it.
pub const HEADER_LIMIT: usize = 32 * 1024;

/// More request header fields than this are refused the same way. Over
/// HTTP/1 hyper counts them first, at the same limit (its default), and
/// `cmd/listen.rs` answers with this check's JSON 431 in place of hyper's.
pub const MAX_HEADERS: usize = 100;

/// Longest request target (path and query) accepted: 414 `uri_too_long`.
pub const URI_LIMIT: usize = 8 * 1024;

/// The Airwallex-compatible login, which reads only its own headers.
const LOGIN_PATH: &str = "/api/v1/authentication/login";

/// The answer to a request target or headers over these limits, or to a
/// repeated `Authorization`, checked in [`log_request`] before the request
/// goes on (not a layer of its own: another layer would box the rest of the
/// request's future once more, as `Common` boxes it once).
fn header_limit(req: &Request) -> Option<Response> {
    if req.uri().path_and_query().map_or(0, |p| p.as_str().len()) > URI_LIMIT {
        return Some(ApiError::UriTooLong.into_response());
    }
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > HEADER_LIMIT || req.headers().len() > MAX_HEADERS {
        return Some(ApiError::HeadersTooLarge.into_response());
    }
    // The credential of every surface (gateway, forward-auth, introspection,
    // `/dev/v1`, GitLab's revocation calls): with two, Keygate would judge one
    // and a server behind it might read the other. The login ignores
    // `Authorization` (API.md), so it ignores a second one too.
    if req.uri().path() != LOGIN_PATH
        && let Err(e) = headers::one(req.headers(), &headers::AUTHORIZATION)
    {
        return Some(ApiError::from(e).into_response());
    }
    None
}

/// Security headers on every response, and one log line per request with the
/// path only: query strings, headers and bodies are never logged.
///
/// It also sets the request id (`request_id`): taken from a well-formed
/// `x-request-id` or made here, current for the whole request (a span with
/// field `request_id` around every log line, and the task-local that 5xx
/// bodies read their `trace_id` from), and returned as `x-request-id`.
async fn headers_and_log(app: AppState, req: Request, router: Router) -> Response {
    // One value for the request, the task-local and the answer (clones share it).
    let id = request_id::of_request(req.headers());
    let span = tracing::info_span!("request", request_id = %id.to_str().unwrap_or_default());
    let mut resp =
        request_id::scope(id.clone(), log_request(&app, req, router).instrument(span)).await;
    resp.headers_mut().insert(request_id::HEADER, id);
    resp
}

async fn log_request(app: &AppState, req: Request, router: Router) -> Response {
    let metrics = &app.metrics;
    let started = Instant::now();
    let path = req.uri().path();
    let group = metrics.enabled().then(|| Group::of_path(path));
    // Token checks and proxied calls log at debug level, the rest at info;
    // when that level is off (debug is, by default) nothing about the
    // request is copied or formatted.
    let hot = path.starts_with("/api/") || path.starts_with("/auth/");
    // Proxied answers are the upstream's own; only sniffing is switched off.
    let proxied = path.starts_with("/api/") && path != "/api/v1/authentication/login";
    let log = if hot {
        tracing::enabled!(tracing::Level::DEBUG)
    } else {
        tracing::enabled!(tracing::Level::INFO)
    }
    .then(|| (req.method().clone(), without_token(path)));
    // A body that trickles in is cut off (`body_deadline`); a request
    // without one is left as it is.
    let mut resp = match header_limit(&req) {
        Some(refused) => refused,
        None => {
            let (parts, body) = req.into_parts();
            let (body, body_outcome) = body_deadline::wrap(body, app.settings.body);
            // Kept for the log line of a refused body (a clone of `Bytes`, no copy).
            let uri = body_outcome.as_ref().map(|_| parts.uri.clone());
            let req = Request::from_parts(parts, body);
            // The limit every body extractor reads, an extension of the
            // request; one without a body has nothing to limit.
            let routed = if body_outcome.is_some() {
                DefaultBodyLimit::max(extract::BODY_LIMIT)
                    .layer(router)
                    .oneshot(req)
                    .await
            } else {
                router.oneshot(req).await
            };
            let resp = match routed {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
            match (body_outcome.and_then(|o| o.fault()), uri) {
                (Some(fault), Some(uri)) => refused_body(resp, fault, &uri),
                _ => resp,
            }
        }
    };
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
        // One lookup each: a surface's own value is kept.
        if (!proxied || name == header::X_CONTENT_TYPE_OPTIONS)
            && let header::Entry::Vacant(slot) = h.entry(name)
        {
            slot.insert(HeaderValue::from_static(value));
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
