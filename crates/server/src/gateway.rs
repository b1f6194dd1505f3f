//! Enforcing scopes on API calls, three ways: the built-in reverse proxy
//! (`/api/**`), forward-auth for a proxy in front (`/auth/verify`), and RFC 7662
//! introspection. All three ask the same token check.

use std::time::Duration;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRef, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use base64::Engine as _;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use keygate_core::crypto::sha256;
use serde::Deserialize;

use crate::access::ClientInfo;
use crate::app::{App, AppState};
use crate::http::error::{ApiError, ErrorBody};
use crate::service::auth::{self, Denied, Identity};

pub const CLIENT_ID_HEADER: &str = "x-keygate-client-id";
pub const ORG_ID_HEADER: &str = "x-keygate-org-id";
pub const ACCOUNT_ID_HEADER: &str = "x-keygate-account-id";

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

/// The gateway's routes: the reverse proxy, forward-auth and introspection.
pub fn router(app: AppState) -> anyhow::Result<Router> {
    let upstream = match &app.settings.upstream {
        Some(url) => Some(Arc::new(Upstream::new(url, app.settings.upstream_timeout)?)),
        None => None,
    };
    Ok(Router::new()
        .route("/api/{*rest}", any(proxy))
        .route("/auth/verify", any(forward_auth))
        .route("/auth/verify/{*rest}", any(forward_auth))
        .route("/oauth/introspect", post(introspect))
        .with_state(Gateway { app, upstream }))
}

/// The server behind the built-in gateway, with a pooled HTTP/1 client.
pub struct Upstream {
    /// `http://host:port` plus any base path, without a trailing slash.
    base: String,
    client: Client<HttpConnector, Body>,
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
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Upstream {
            base,
            client,
            timeout,
        })
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn denied(d: Denied) -> ApiError {
    match d {
        Denied::Unauthenticated => ApiError::BadToken,
        Denied::Unavailable => auth::stale_cache().into(),
        Denied::Forbidden => ApiError::Forbidden("the token's scope does not allow this request"),
        Denied::AmbiguousPath => ApiError::BadRequest(
            "invalid_path",
            "the path has dot segments, empty segments or encoded separators".into(),
        ),
    }
}

async fn check(
    app: &App,
    headers: &HeaderMap,
    method: &str,
    path: &str,
) -> Result<Identity, ApiError> {
    let token = bearer(headers).ok_or(ApiError::BadToken)?;
    auth::check(app, token, method, path).await.map_err(denied)
}

fn identity_headers(id: &Identity, h: &mut HeaderMap) {
    let mut set = |name: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set(CLIENT_ID_HEADER, id.client_id());
    set(ORG_ID_HEADER, id.org_id().as_str());
    if let Some(a) = id.account_id() {
        set(ACCOUNT_ID_HEADER, a.as_str());
    }
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(h: &mut HeaderMap) {
    // Names listed in `Connection` go too; nothing is copied when there is none.
    if h.contains_key(header::CONNECTION) {
        let listed: Vec<String> = h
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_ascii_lowercase())
            .collect();
        for name in listed {
            h.remove(name.as_str());
        }
    }
    for name in HOP_BY_HOP {
        h.remove(name);
    }
}

/// The built-in gateway: checks the token against the request, then streams the
/// request to the upstream with the caller's identity in `x-keygate-*` headers.
pub async fn proxy(State(gw): State<Gateway>, client: ClientInfo, req: Request) -> Response {
    match proxy_inner(&gw, client, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn proxy_inner(gw: &Gateway, client: ClientInfo, req: Request) -> Result<Response, ApiError> {
    let app = &gw.app;
    let identity = check(app, req.headers(), req.method().as_str(), req.uri().path()).await?;
    let upstream = gw.upstream.as_deref().ok_or(ApiError::BadGateway(
        "no upstream is configured (keygate serve --upstream URL)",
    ))?;
    let (mut parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri = format!("{}{}", upstream.base, path_and_query)
        .parse::<Uri>()
        .map_err(|_| {
            ApiError::BadRequest("invalid_path", "the request URI cannot be forwarded".into())
        })?;
    let h = &mut parts.headers;
    strip_hop_by_hop(h);
    for name in [CLIENT_ID_HEADER, ORG_ID_HEADER, ACCOUNT_ID_HEADER] {
        h.remove(name);
    }
    if !app.settings.forward_authorization {
        h.remove(header::AUTHORIZATION);
    }
    h.remove(header::HOST);
    identity_headers(&identity, h);
    let forwarded = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {}", client.ip),
        None => client.ip.clone(),
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        h.insert("x-forwarded-for", v);
    }
    parts.uri = uri;
    parts.version = axum::http::Version::HTTP_11;
    let out = Request::from_parts(parts, body);
    let resp = tokio::time::timeout(upstream.timeout, upstream.client.request(out))
        .await
        .map_err(|_| ApiError::GatewayTimeout)?
        .map_err(|e| {
            tracing::warn!(error = %e, "upstream request failed");
            ApiError::BadGateway("the upstream could not be reached")
        })?;
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// Forward-auth for nginx `auth_request`, Traefik ForwardAuth and Envoy
/// ext_authz (HTTP). The original request is read from `X-Original-Method` /
/// `X-Original-URI` (nginx), `X-Forwarded-Method` / `X-Forwarded-Uri`
/// (Traefik), or the request itself (Envoy, with `/auth/verify` as path prefix).
#[utoipa::path(get, path = "/auth/verify", tag = "gateway",
    params(
        ("authorization" = String, Header, description = "Bearer <access token>"),
        ("x-original-method" = Option<String>, Header), ("x-original-uri" = Option<String>, Header),
        ("x-forwarded-method" = Option<String>, Header), ("x-forwarded-uri" = Option<String>, Header),
    ),
    responses(
        (status = 200, description = "Allowed; identity in x-keygate-client-id, x-keygate-org-id, x-keygate-account-id"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn forward_auth(State(app): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let h = req.headers();
    let get = |n: &str| {
        h.get(n)
            .and_then(|v| v.to_str().ok())
            .filter(|s| !s.is_empty())
    };
    let method = get("x-original-method")
        .or_else(|| get("x-forwarded-method"))
        .unwrap_or(req.method().as_str());
    let envoy_path = req
        .uri()
        .path()
        .strip_prefix("/auth/verify")
        .filter(|p| p.starts_with('/'));
    let uri = get("x-original-uri")
        .or_else(|| get("x-forwarded-uri"))
        .or(envoy_path)
        .unwrap_or("/");
    let path = uri.split(['?', '#']).next().unwrap_or("/");
    let identity = check(&app, h, method, path).await?;
    let mut resp = StatusCode::OK.into_response();
    identity_headers(&identity, resp.headers_mut());
    Ok(resp)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct IntrospectForm {
    token: String,
    #[serde(default)]
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

/// RFC 7662 token introspection. Callers authenticate with HTTP Basic, the
/// password being the configured introspection secret.
#[utoipa::path(post, path = "/oauth/introspect", tag = "gateway",
    request_body(content = IntrospectForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "{active, client_id, org_id, account_id, scope, exp, iat}", body = Object),
              (status = 401, body = ErrorBody)))]
pub async fn introspect(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !introspection_caller_ok(&app, &headers) {
        return Err(ApiError::Unauthorized);
    }
    let form: IntrospectForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::validation("token", "send the token as form field `token`"))?;
    let inactive = Json(serde_json::json!({"active": false}));
    let (identity, cred) = match auth::authenticate(&app, &form.token).await {
        Ok(found) => found,
        Err(Denied::Unavailable) => return Err(auth::stale_cache().into()),
        Err(_) => return Ok(inactive),
    };
    let c = &identity.claims;
    Ok(Json(serde_json::json!({
        "active": true,
        "token_type": "Bearer",
        "client_id": c.sub,
        "sub": c.sub,
        "org_id": c.org_id,
        "account_id": c.account_id,
        "scope": cred.scope.scope_string(&app.catalog, &c.target()),
        "exp": c.exp,
        "iat": c.iat,
        "iss": c.iss,
    })))
}

fn introspection_caller_ok(app: &App, headers: &HeaderMap) -> bool {
    let Some(secret) = &app.settings.introspection_secret else {
        return false;
    };
    let password = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(_, p)| p.to_owned()));
    match password {
        Some(p) => sha256(p.as_bytes()).ct_eq(&sha256(secret.as_bytes())),
        None => false,
    }
}
