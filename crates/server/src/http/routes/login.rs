//! `POST /api/v1/authentication/login` and the public keys that verify its tokens.

use std::net::IpAddr;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::header::USER_AGENT;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use keygate_core::time::format_airwallex;

use axum::response::{IntoResponse, Response};

use crate::http::dto::LoginResponse;
use crate::http::error::{ApiError, ErrorBody, json_bytes};
use crate::middleware::access::ClientAddr;
use crate::middleware::headers;
use crate::service::tokens::{self, IssueProof, LoginRequest};
use crate::state::app::{App, AppState};
use crate::state::metrics;

static X_CLIENT_ID: HeaderName = HeaderName::from_static("x-client-id");
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
static X_LOGIN_AS: HeaderName = HeaderName::from_static("x-login-as");

/// A login header: absent, blank or not text reads as absent (401 like any
/// bad credential); sent twice is refused (400) rather than read as the first.
fn header<'a>(h: &'a HeaderMap, name: &'static HeaderName) -> Result<Option<&'a str>, ApiError> {
    Ok(headers::one(h, name)?
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty()))
}

/// Trade a client id and API key for an access token (Airwallex-compatible).
/// Any body, `Authorization` or `x-api-version` header is ignored.
#[utoipa::path(post, path = "/api/v1/authentication/login", tag = "authentication",
    params(
        ("x-client-id" = String, Header, description = "The key's client id"),
        ("x-api-key" = String, Header, description = "The API key"),
        ("x-login-as" = Option<String>, Header, description = "Target account id (see the login rules)"),
        ("dpop" = Option<String>, Header, description = "A DPoP proof (RFC 9449) of this request: the token is \
            bound to its key (cnf.jkt) and token_type is DPoP"),
    ),
    responses(
        (status = 201, body = LoginResponse),
        (status = 400, body = ErrorBody, description = "validation_error naming the header: a header sent twice, \
            or a --trusted-proxy's X-Forwarded-For that names no address; invalid_dpop_proof: a DPoP proof that \
            does not hold"),
        (status = 401, body = ErrorBody, description = "Bad client id or key, all alike; a key with require_dpop \
            and no DPoP proof"),
        (status = 403, body = ErrorBody, description = "login_as_not_allowed"),
        (status = 429, body = ErrorBody),
    ))]
pub async fn login(State(app): State<AppState>, client: ClientAddr, req: Request) -> Response {
    // The headers are read in place (the `HeaderMap` extractor copies them),
    // the address is written on the stack, the user agent borrowed.
    let (parts, _) = req.into_parts();
    let resp = match client.ip() {
        Ok(ip) => issue(&app, ip, &parts.headers).await.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    };
    app.metrics
        .login(metrics::Login::of_status(resp.status().as_u16()));
    resp
}

async fn issue(
    app: &App,
    ip: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<LoginAnswer, ApiError> {
    let ip = IpText::of(ip);
    let issued = tokens::login(
        app,
        &LoginRequest {
            client_id: header(headers, &X_CLIENT_ID)?,
            api_key: header(headers, &X_API_KEY)?,
            login_as: header(headers, &X_LOGIN_AS)?,
            ip: ip.as_str(),
            user_agent: user_agent(headers),
            scope: None,
            dpop: header(headers, &headers::DPOP)?.map(|proof| IssueProof {
                proof,
                method: "POST",
                path: "/api/v1/authentication/login",
            }),
        },
    )
    .await?;
    Ok(LoginAnswer(LoginResponse {
        token: issued.token,
        expires_at: format_airwallex(issued.expires_at_ms),
        token_type: issued.bound.then_some("DPoP"),
    }))
}

/// The 201 of a login, written into a buffer of its size (axum's `Json`
/// starts at 128 bytes and grew three times for each token).
struct LoginAnswer(LoginResponse);

impl IntoResponse for LoginAnswer {
    fn into_response(self) -> Response {
        match login_json(&self.0) {
            Ok(body) => json_bytes(StatusCode::CREATED, body),
            Err(e) => ApiError::Internal(format!("the login answer: {e}")).into_response(),
        }
    }
}

/// The login's JSON. A token is base64url and dots, `expires_at` digits and
/// punctuation: nothing to escape, so they are written as they are (serde's
/// escaping scan of the token was 3 % of a login). Anything that would need
/// escaping goes through serde.
fn login_json(r: &LoginResponse) -> serde_json::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(r.token.len() + 96);
    if !(plain(&r.token) && plain(&r.expires_at) && r.token_type.is_none_or(plain)) {
        serde_json::to_writer(&mut body, r)?;
        return Ok(body);
    }
    let mut put = |parts: &[&str]| {
        for p in parts {
            body.extend_from_slice(p.as_bytes());
        }
    };
    put(&[
        r#"{"token":""#,
        &r.token,
        r#"","expires_at":""#,
        &r.expires_at,
        "\"",
    ]);
    if let Some(t) = r.token_type {
        put(&[r#","token_type":""#, t, "\""]);
    }
    put(&["}"]);
    Ok(body)
}

/// Text JSON takes between quotes as it is: no quote, backslash or control
/// character (one pass without an early exit, which the compiler vectorizes).
fn plain(s: &str) -> bool {
    s.bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'))
}

/// The client's address as text ("" without a socket), as `ClientInfo` has
/// it, written into a buffer on the stack.
struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl IpText {
    fn of(ip: Option<IpAddr>) -> IpText {
        use std::io::Write as _;
        let mut buf = [0u8; 48];
        let mut rest = &mut buf[..];
        if let Some(ip) = ip {
            // 45 characters at most (IPv4-mapped IPv6); cannot fail.
            let _ = write!(rest, "{ip}");
        }
        let len = 48 - rest.len();
        IpText { buf, len }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// The user agent, its first 256 characters, as `ClientInfo` has it.
fn user_agent(h: &HeaderMap) -> Option<&str> {
    let s = h.get(USER_AGENT)?.to_str().ok()?;
    Some(match s.char_indices().nth(256) {
        Some((end, _)) => &s[..end],
        None => s,
    })
}

/// The public keys that verify access tokens (RFC 7517). During a rotation both
/// the new and the previous key are listed.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "authentication",
    responses((status = 200, description = "JWK set", body = Object)))]
pub async fn jwks(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(app.signing_keys().jwks())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_json_is_what_serde_writes_for_every_text() {
        let texts = [
            "eyJh.eyJp.c2ln-_",
            "2026-05-12T00:00:00+0000",
            "",
            "a\"b",
            "back\\slash",
            "tab\there",
            "\u{1}",
            "é",
        ];
        for token in texts {
            for expires_at in texts {
                for token_type in [None, Some("DPoP"), Some("q\"")] {
                    let r = LoginResponse {
                        token: token.to_owned(),
                        expires_at: expires_at.to_owned(),
                        token_type,
                    };
                    let ours = login_json(&r).unwrap();
                    assert_eq!(
                        ours,
                        serde_json::to_vec(&r).unwrap(),
                        "{token:?} {expires_at:?} {token_type:?}"
                    );
                }
            }
        }
    }
}
