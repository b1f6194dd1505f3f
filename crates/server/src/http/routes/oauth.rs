//! OAuth 2.0 for machines: `POST /oauth/token` (client credentials, RFC 6749
//! §4.4, optionally DPoP-bound, RFC 9449) and the authorization server's
//! metadata (RFC 8414). The token is the login's, from the same service
//! function (`tokens::login`): same limits, allowlists and rules.

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::http::error::proof_message;
use crate::middleware::access::ClientAddr;
use crate::middleware::headers;
use crate::service::Error;
use crate::service::federation::{self, JWT_TOKEN_TYPE};
use crate::service::tokens::{self, IssueProof, LoginRequest};
use crate::state::app::{App, AppState};
use crate::state::clock::now_ms;

pub const TOKEN_PATH: &str = "/oauth/token";
const CLIENT_CREDENTIALS: &str = "client_credentials";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `issued_token_type` of an exchange (RFC 8693 §3).
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The form of a token request. Every field is optional here so that a
/// missing one is answered in RFC 6749's words, not serde's.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenForm {
    /// `client_credentials`, or `urn:ietf:params:oauth:grant-type:token-exchange`
    /// (RFC 8693).
    grant_type: Option<String>,
    /// The key's client id (or in HTTP Basic).
    client_id: Option<String>,
    /// Token exchange: the JWT of an outside OIDC issuer that one of the
    /// key's federation rules names.
    subject_token: Option<String>,
    /// Token exchange: `urn:ietf:params:oauth:token-type:jwt`.
    subject_token_type: Option<String>,
    /// Token exchange: if sent, `urn:ietf:params:oauth:token-type:access_token`.
    requested_token_type: Option<String>,
    /// The API key (or in HTTP Basic).
    client_secret: Option<String>,
    /// Space-separated `resource:read|write`, a subset of the key's.
    scope: Option<String>,
    /// The account to act as (the login's `x-login-as`).
    account_id: Option<String>,
}

/// RFC 6749 §5.1.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    /// `Bearer`, or `DPoP` when the request carried a DPoP proof.
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: i64,
    scope: String,
    /// Token exchange only: `urn:ietf:params:oauth:token-type:access_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_token_type: Option<&'static str>,
}

/// RFC 6749 §5.2.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OAuthErrorBody {
    error: &'static str,
    error_description: String,
}

/// Trade a key's client id and API key for an access token (OAuth 2.0 client
/// credentials), the same token the login endpoint gives.
#[utoipa::path(post, path = "/oauth/token", tag = "authentication",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    params(
        ("authorization" = Option<String>, Header, description = "Basic base64(client_id:client_secret), \
            each form-urlencoded first (RFC 6749 §2.3.1); or send them in the form"),
        ("dpop" = Option<String>, Header, description = "A DPoP proof (RFC 9449) of this request: \
            the token is bound to its key and token_type is DPoP"),
    ),
    responses(
        (status = 200, body = TokenResponse, description = "Cache-Control: no-store"),
        (status = 400, body = OAuthErrorBody, description = "invalid_request (also every refused \
            subject_token of a token exchange, RFC 8693 §2.2.2), unsupported_grant_type, \
            invalid_scope, invalid_dpop_proof (a bad proof, or a key with require_dpop and no proof)"),
        (status = 401, body = OAuthErrorBody, description = "invalid_client, with WWW-Authenticate: Basic"),
        (status = 429, body = OAuthErrorBody, description = "too many failed attempts; Retry-After"),
        (status = 503, body = OAuthErrorBody, description = "temporarily_unavailable"),
    ))]
pub async fn token(
    State(app): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    let answer = match client.ip() {
        Ok(ip) => issue(&app, ip, &headers, &body).await,
        Err(_) => Err(OAuthError::request(
            "the client address (X-Forwarded-For) cannot be read",
        )),
    };
    let mut resp = match answer {
        Ok(t) => (StatusCode::OK, Json(t)).into_response(),
        Err(e) => e.into_response(),
    };
    // RFC 6749 §5.1: no cache keeps a token answer, nor an error about one.
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

async fn issue(
    app: &App,
    ip: Option<IpAddr>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenResponse, OAuthError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(OAuthError::request(
            "send the request as application/x-www-form-urlencoded",
        ));
    }
    let form: TokenForm = serde_urlencoded::from_bytes(body).map_err(|_| {
        OAuthError::request("the form cannot be read, or a parameter is sent twice")
    })?;
    let exchange = match form.grant_type.as_deref() {
        Some(CLIENT_CREDENTIALS) => false,
        Some(TOKEN_EXCHANGE) => true,
        Some(_) => {
            return Err(OAuthError {
                status: StatusCode::BAD_REQUEST,
                error: "unsupported_grant_type",
                description: format!("grant_type must be {CLIENT_CREDENTIALS} or {TOKEN_EXCHANGE}"),
                retry_after: None,
            });
        }
        None => return Err(OAuthError::request("grant_type is missing")),
    };
    let (client_id, secret) = if exchange {
        (form.client_id.clone(), None)
    } else {
        client_credentials(headers, &form)?
    };
    let proof = headers::one(headers, &headers::DPOP)
        .map_err(|_| OAuthError::proof("send one DPoP header"))?
        .map(|v| {
            v.to_str()
                .map_err(|_| OAuthError::proof("the DPoP header is not text"))
        })
        .transpose()?;
    let ip_text = ip.map(|i| i.to_string()).unwrap_or_default();
    let req = LoginRequest {
        client_id: client_id.as_deref(),
        api_key: secret.as_deref(),
        login_as: form.account_id.as_deref().filter(|a| !a.is_empty()),
        ip: &ip_text,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        scope: form.scope.as_deref().filter(|s| !s.trim().is_empty()),
        dpop: proof.map(|proof| IssueProof {
            proof,
            method: "POST",
            path: TOKEN_PATH,
        }),
    };
    let issued = if exchange {
        federation::exchange(app, &req, subject_token(&form)?).await
    } else {
        tokens::login(app, &req).await
    }
    .map_err(OAuthError::from)?;
    Ok(TokenResponse {
        issued_token_type: exchange.then_some(ACCESS_TOKEN_TYPE),
        access_token: issued.token,
        token_type: if issued.bound { "DPoP" } else { "Bearer" },
        expires_in: ((issued.expires_at_ms - now_ms()) / 1000).max(1),
        scope: issued.scope,
    })
}

/// A token exchange's `subject_token`, of the one type taken.
fn subject_token(form: &TokenForm) -> Result<&str, OAuthError> {
    if form.client_id.as_deref().is_none_or(str::is_empty) {
        return Err(OAuthError::request(
            "client_id is missing: name the key whose federation rules take this token",
        ));
    }
    let token = form
        .subject_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::request("subject_token is missing"))?;
    if form.subject_token_type.as_deref() != Some(JWT_TOKEN_TYPE) {
        return Err(OAuthError::request(
            "subject_token_type must be urn:ietf:params:oauth:token-type:jwt",
        ));
    }
    if form
        .requested_token_type
        .as_deref()
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(OAuthError::request(
            "requested_token_type, when sent, must be urn:ietf:params:oauth:token-type:access_token",
        ));
    }
    Ok(token)
}

/// The client's id and secret, in HTTP Basic or in the form (RFC 6749
/// §2.3.1), never both. In Basic each is form-urlencoded first.
fn client_credentials(
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<(Option<String>, Option<String>), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
        });
    let Some(basic) = basic else {
        return Ok((form.client_id.clone(), form.client_secret.clone()));
    };
    if form.client_secret.is_some() {
        return Err(OAuthError::request(
            "send the client's credentials in HTTP Basic or in the form, not both",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(OAuthError::client)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(OAuthError::client)?;
    let unescape = |s: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
            .ok()
            .and_then(|v| v.into_iter().next())
            .map(|(_, v)| v)
    };
    let (id, secret) = (
        unescape(id).ok_or_else(OAuthError::client)?,
        unescape(secret).ok_or_else(OAuthError::client)?,
    );
    if form.client_id.as_deref().is_some_and(|f| f != id) {
        return Err(OAuthError::request(
            "client_id in the form is not the one in HTTP Basic",
        ));
    }
    Ok((Some(id), Some(secret)))
}

/// An RFC 6749 §5.2 error answer.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// 429: seconds to wait (`Retry-After`).
    retry_after: Option<u64>,
}

impl OAuthError {
    fn request(description: &str) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
            retry_after: None,
        }
    }

    /// One answer for every bad client id or secret.
    fn client() -> OAuthError {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "the client credentials are missing or not valid".into(),
            retry_after: None,
        }
    }

    fn proof(description: &str) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_dpop_proof",
            description: description.into(),
            retry_after: None,
        }
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> OAuthError {
        let (status, error, description) = match e {
            Error::Unauthorized => return OAuthError::client(),
            Error::InvalidScope => (
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "scope asks for more than the key allows, or is not resource:read|write words",
            ),
            Error::LoginAsNotAllowed => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "account_id is not an account this key may act as",
            ),
            Error::InvalidDpopProof(e) => (
                StatusCode::BAD_REQUEST,
                "invalid_dpop_proof",
                proof_message(e),
            ),
            Error::SubjectTokenRefused(r) => {
                return OAuthError {
                    status: StatusCode::BAD_REQUEST,
                    error: "invalid_request",
                    description: r.to_string(),
                    retry_after: None,
                };
            }
            Error::DpopRequired => (
                StatusCode::BAD_REQUEST,
                "invalid_dpop_proof",
                "this key issues only DPoP-bound tokens: send a DPoP proof",
            ),
            Error::OrgSuspended => (
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "the key's organization is suspended",
            ),
            Error::TooManyAttempts { retry_after_secs } => {
                return OAuthError {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    error: "too_many_attempts",
                    description: format!(
                        "too many failed attempts; retry after {} s",
                        retry_after_secs.max(1)
                    ),
                    retry_after: Some(retry_after_secs.max(1)),
                };
            }
            Error::StaleCache | Error::Unavailable(_) | Error::Busy { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "Keygate cannot issue tokens right now; retry shortly",
            ),
            other => {
                tracing::error!(error = ?other, "token request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal error",
                )
            }
        };
        OAuthError {
            status,
            error,
            description: description.into(),
            retry_after: None,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let retry = self.retry_after;
        let basic = self.status == StatusCode::UNAUTHORIZED;
        let mut resp = (
            self.status,
            Json(OAuthErrorBody {
                error: self.error,
                error_description: self.description,
            }),
        )
            .into_response();
        let h = resp.headers_mut();
        if basic {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="keygate""#),
            );
        }
        if let Some(secs) = retry {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// The authorization server's metadata (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "authentication",
    responses((status = 200, description = "issuer, token_endpoint, introspection_endpoint, jwks_uri, \
        grant_types_supported, token_endpoint_auth_methods_supported, dpop_signing_alg_values_supported",
        body = Object)))]
pub async fn metadata(State(app): State<AppState>) -> Json<serde_json::Value> {
    let base = &app.settings.notify.public_url;
    Json(serde_json::json!({
        "issuer": base,
        "token_endpoint": format!("{base}{TOKEN_PATH}"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": [CLIENT_CREDENTIALS, TOKEN_EXCHANGE],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "dpop_signing_alg_values_supported": keygate_core::dpop::ALGORITHMS,
    }))
}
