//! Enforcing scopes on API calls, three ways: the built-in reverse proxy
//! (`/api/**`, here), forward-auth for a proxy in front (`forward_auth`: one
//! endpoint per proxy), and RFC 7662 introspection (`introspect`). All three
//! ask the same token check, after the same request rules (`request`).

pub mod check;
pub mod forward_auth;
pub mod introspect;
pub mod request;
pub mod upstream_headers;

use std::time::Duration;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, Request, State};
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::http::error::ApiError;
use crate::middleware::access::ClientAddr;
use crate::middleware::cookies::Tls;
use crate::state::app::AppState;
use crate::state::lanes::PerLane;
use crate::state::metrics::{Check, Surface};
use check::{check, identity_headers};
use upstream_headers::strip_hop_by_hop;

/// The gateway's router state: the shared `App` and the upstream client,
/// which only the gateway uses.
#[derive(Clone)]
pub struct Gateway {
    app: AppState,
    upstream: Option<Arc<Upstream>>,
}

impl FromRef<Gateway> for AppState {
    fn from_ref(g: &Gateway) -> AppState {
        g.app.clone()
    }
}

/// The first path segments of Keygate's own surfaces: a catalog route under
/// one of them would be shadowed (or would shadow them), so `serve` refuses it.
pub const OWN_PATHS: &[&str] = &[
    "dev",
    "app",
    "auth",
    "oauth",
    "operator",
    ".well-known",
    "docs",
    "openapi.json",
    "healthz",
    "readyz",
    "secret-scanning",
];

/// The first path segments the reverse proxy serves: `api`, and the first
/// segment of every catalog route. A route that starts with a wildcard or
/// with one of [`OWN_PATHS`] is refused with the route named.
pub fn prefixes(catalog: &keygate_core::Catalog) -> Result<Vec<String>, RouteOverlap> {
    let mut out = vec!["api".to_owned()];
    for resource in catalog.resources() {
        for route in &resource.routes {
            let first = route
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or("");
            let own = OWN_PATHS.contains(&first);
            if own || first.contains('*') {
                return Err(RouteOverlap(format!(
                    "route {route} of resource {} overlaps Keygate's own paths \
                     (/{}); give the API a prefix of its own",
                    resource.name,
                    if own { first } else { "*" }
                )));
            }
            // axum reads these as parameters or escapes: not a literal path.
            if first.starts_with([':', '{', '}']) || first.contains(['{', '}']) {
                return Err(RouteOverlap(format!(
                    "route {route} of resource {}: its first segment cannot be routed",
                    resource.name
                )));
            }
            if !out.iter().any(|p| p == first) {
                out.push(first.to_owned());
            }
        }
    }
    Ok(out)
}

/// A catalog route the gateway cannot serve: `serve` stops with exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RouteOverlap(pub String);

/// The gateway's routes: the reverse proxy (under `/api/` and every prefix of
/// the catalog, see [`prefixes`]), forward-auth and introspection.
pub fn router(app: AppState) -> anyhow::Result<Router> {
    let upstream = match &app.settings.upstream {
        Some(url) => Some(Arc::new(Upstream::new(url, app.settings.upstream_timeout)?)),
        None => None,
    };
    let (mut router, _document) = routes().split_for_parts();
    for prefix in prefixes(&app.settings.catalog)? {
        if prefix != "api" {
            router = router.route(&format!("/{prefix}"), any(proxy));
        }
        router = router.route(&format!("/{prefix}/{{*rest}}"), any(proxy));
    }
    Ok(router.with_state(Gateway { app, upstream }))
}

/// The gateway's documented routes, each path the one in its handler's
/// `#[utoipa::path]`: one forward-auth endpoint per proxy, each reading only
/// its own headers, and introspection. Forward-auth answers every method (a
/// proxy asks with its own or the original request's); the document shows
/// GET. `/auth/verify/…` is no longer an Envoy prefix (404).
pub fn routes() -> OpenApiRouter<Gateway> {
    OpenApiRouter::new()
        .routes(routes!(forward_auth::verify).map(|_| any(forward_auth::verify)))
        .routes(routes!(forward_auth::nginx).map(|_| any(forward_auth::nginx)))
        .routes(routes!(forward_auth::traefik).map(|_| any(forward_auth::traefik)))
        .merge(rest_of_path(
            routes!(forward_auth::envoy).map(|_| any(forward_auth::envoy)),
        ))
        .routes(routes!(introspect::introspect))
}

/// A documented route whose last parameter takes the rest of the path
/// (Envoy's prefix): `{path}` in the document, which has no such parameter,
/// and `{*path}` in the router.
fn rest_of_path(
    (schemas, paths, method_router): UtoipaMethodRouter<Gateway>,
) -> OpenApiRouter<Gateway> {
    let mut router = OpenApiRouter::new();
    for (path, item) in paths.paths {
        let routed = match path.rsplit_once("/{") {
            Some((head, param)) => format!("{head}/{{*{param}"),
            None => path.clone(),
        };
        router = router.route(&routed, method_router.clone());
        router.get_openapi_mut().paths.paths.insert(path, item);
    }
    let doc = router.get_openapi_mut();
    let components = doc.components.get_or_insert_with(Default::default);
    components.schemas.extend(schemas);
    router
}

/// The server behind the built-in gateway, with a pooled HTTP/1 client.
pub struct Upstream {
    /// `http://host:port` plus any base path, without a trailing slash.
    base: String,
    /// One pool per lane (`cmd/listen.rs`): a lane's requests use the
    /// connections it opened.
    clients: PerLane<Client<HttpConnector, Body>>,
    timeout: Duration,
}

impl Upstream {
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Upstream> {
        let uri: Uri = url.parse()?;
        let authority = match (uri.scheme_str(), uri.authority()) {
            (Some("http"), Some(a)) => a.clone(),
            _ => anyhow::bail!(
                "--upstream must be an http://host:port URL (put TLS in front of Keygate, not behind it)"
            ),
        };
        let base = format!("http://{authority}{}", uri.path().trim_end_matches('/'));
        let clients = PerLane::new(|| {
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(60))
                .build(connector)
        });
        Ok(Upstream {
            base,
            clients,
            timeout,
        })
    }
}

/// The built-in gateway: checks the token against the request, then streams the
/// request to the upstream with the caller's identity in `x-keygate-*` headers.
pub async fn proxy(
    State(gw): State<Gateway>,
    client: ClientAddr,
    Tls(tls): Tls,
    req: Request,
) -> Response {
    let metrics = &gw.app.metrics;
    match proxy_inner(&gw, client, tls, req).await {
        Ok(r) => {
            metrics.token_check(Surface::Gateway, Check::Allowed);
            r
        }
        Err(e) => {
            let resp = e.into_response();
            // A 502/504 comes after the token was allowed: the upstream failed.
            let outcome = match resp.status().as_u16() {
                502 | 504 => Check::Allowed,
                s => Check::of_status(s),
            };
            metrics.token_check(Surface::Gateway, outcome);
            resp
        }
    }
}

async fn proxy_inner(
    gw: &Gateway,
    client: ClientAddr,
    tls: bool,
    req: Request,
) -> Result<Response, ApiError> {
    let app = &gw.app;
    // The request's shape first: a bad method or path is refused whoever asks.
    request::method(req.method().as_str(), None)?;
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let path = request::path(path_and_query)?;
    let ip = client.ip()?;
    let allowed = check(app, req.headers(), req.method().as_str(), path, ip).await?;
    let upstream = gw.upstream.as_deref().ok_or(ApiError::BadGateway(
        "no upstream is configured (keygate serve --upstream URL)",
    ))?;
    let mut target = String::with_capacity(upstream.base.len() + path_and_query.len());
    target.push_str(&upstream.base);
    target.push_str(path_and_query);
    let uri = Uri::try_from(target).map_err(|_| {
        ApiError::BadRequest("invalid_path", "the request URI cannot be forwarded".into())
    })?;
    let (mut parts, body) = req.into_parts();
    let host = upstream_headers::requested_host(&parts.uri, &parts.headers);
    let h = &mut parts.headers;
    strip_hop_by_hop(h);
    upstream_headers::strip_spoofable(h);
    upstream_headers::strip_keygate_cookies(h);
    if !app.settings.forward_authorization {
        h.remove(header::AUTHORIZATION);
    }
    h.remove(header::HOST);
    identity_headers(&allowed.identity, h);
    // The upstream logs under the same id as we do.
    if let Some(v) = crate::state::request_id::current_header() {
        h.insert(crate::state::request_id::HEADER, v);
    }
    upstream_headers::set_forwarded(h, ip, host, tls);
    parts.uri = uri;
    parts.version = axum::http::Version::HTTP_11;
    let out = Request::from_parts(parts, body);
    let resp = tokio::time::timeout(upstream.timeout, upstream.clients.get().request(out))
        .await
        .map_err(|_| ApiError::GatewayTimeout)?
        .map_err(|e| {
            tracing::warn!(error = %e, "upstream request failed");
            ApiError::BadGateway("the upstream could not be reached")
        })?;
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if let Some(s) = &allowed.limit {
        crate::http::error::rate_limit_headers(s, &mut parts.headers);
    }
    Ok(Response::from_parts(parts, Body::new(body)))
}
