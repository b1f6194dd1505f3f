//! RFC 7662 token introspection, for services that ask rather than proxy.

use axum::Json;
use std::borrow::Cow;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use keygate_core::crypto::{Digest, sha256};
use serde::Serialize;

use crate::http::error::{ApiError, ErrorBody, json_bytes};
use crate::middleware::access::ClientAddr;
use crate::service::tokens::{self, Denied};
use crate::state::app::{App, AppState};
use crate::state::metrics::{Check, Surface};

/// The form, as the document shows it; the handler reads it with
/// [`token_field`].
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct IntrospectForm {
    token: String,
    token_type_hint: Option<String>,
}

/// RFC 7662 token introspection. Callers authenticate with HTTP Basic, the
/// password being the configured introspection secret.
#[utoipa::path(post, path = "/oauth/introspect", tag = "gateway",
    request_body(content = IntrospectForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "{active, token_type (Bearer, or DPoP with cnf {jkt} for a DPoP-bound token), client_id, org_id, account_id, scope, exp, iat, rate_limit?, allowed_networks?}; \
                `rate_limit` ({requests, per_seconds}) is the key's limit, reported, not counted; \
                `allowed_networks` (CIDRs) only for a key with a network allowlist: the token may be used from those networks only", body = Object),
              (status = 400, body = ErrorBody, description = "no `token` field, or a --trusted-proxy's \
                X-Forwarded-For names no address (validation_error)"),
              (status = 401, body = ErrorBody, description = "Bad Basic credentials, or introspection is off \
                (started without `--introspection-secret`); `WWW-Authenticate: Basic`")))]
pub async fn introspect(
    State(app): State<AppState>,
    client: ClientAddr,
    Authorization(authorization): Authorization,
    body: bytes::Bytes,
) -> Response {
    let (outcome, resp) = match answer(&app, client, authorization.as_ref(), &body).await {
        Ok((active, resp)) => (
            if active {
                Check::Allowed
            } else {
                Check::Unauthenticated
            },
            resp,
        ),
        // The caller's own credentials (or introspection being off) are the
        // 401s here; a token's own failure is `active: false`.
        Err(resp) => (
            match resp.status().as_u16() {
                401 => Check::Forbidden,
                s => Check::of_status(s),
            },
            resp,
        ),
    };
    app.metrics.token_check(Surface::Introspection, outcome);
    resp
}

/// The introspection answer and whether the token is active.
async fn answer(
    app: &App,
    client: ClientAddr,
    authorization: Option<&HeaderValue>,
    body: &[u8],
) -> Result<(bool, Response), Response> {
    if app.settings.introspection_secret.is_none() {
        return Err(challenge(
            (
                StatusCode::UNAUTHORIZED,
                Json(ErrorBody {
                    code: "unauthorized",
                    message: "introspection is off: start Keygate with \
                              `keygate serve --introspection-secret <secret>` \
                              (or KEYGATE_INTROSPECTION_SECRET) and send that secret as the \
                              HTTP Basic password"
                        .into(),
                    source: None,
                    trace_id: None,
                }),
            )
                .into_response(),
        ));
    }
    if !introspection_caller_ok(app, authorization) {
        return Err(challenge(ApiError::Unauthorized.into_response()));
    }
    let ip = client.ip().map_err(|e| ApiError::from(e).into_response())?;
    let token = token_field(body)
        .ok_or_else(|| ApiError::validation("token", "send the token as form field `token`"))
        .map_err(IntoResponse::into_response)?;
    let (identity, cred) = match tokens::authenticate(app, &token).await {
        Ok(found) => found,
        Err(Denied::Unavailable) => {
            return Err(ApiError::from(tokens::stale_cache()).into_response());
        }
        Err(_) => {
            return Ok((
                false,
                Json(serde_json::json!({"active": false})).into_response(),
            ));
        }
    };
    let c = &identity.claims;
    // A use of the key (last used), from the asking service's address; not a
    // call in the usage counts, nor against the rate limit: asking about a
    // token is not a call, the rate limit is only reported.
    app.usage.used(&c.sub, &c.org_id, ip);
    let out = Active {
        active: true,
        token_type: if c.cnf.is_some() { "DPoP" } else { "Bearer" },
        cnf: c.cnf.as_ref(),
        client_id: &c.sub,
        sub: &c.sub,
        org_id: &c.org_id,
        account_id: &c.account_id,
        // A narrowed token's own scope (its key's current one still limits it).
        scope: if c.narrowed {
            c.scope.clone()
        } else {
            cred.scope.scope_string(&app.catalog, &c.target())
        },
        exp: c.exp,
        iat: c.iat,
        iss: &c.iss,
        rate_limit: app.cache.limit_of(&cred).map(|l| LimitJson {
            requests: l.requests,
            per_seconds: l.per_seconds,
        }),
        // The key's network allowlist: the token is for callers in these
        // networks only (absent: anywhere). Introspection answers whoever asks
        // (a resource server, not the client); the resource server enforces it.
        allowed_networks: cred.allowed_networks.as_ref().map(|n| n.to_strings()),
    };
    // Written into a buffer of about the answer's size (axum's `Json` starts
    // at 128 bytes and grows it several times; an answer without its scope is
    // about 400 bytes, more with a rate limit and networks).
    let mut body = Vec::with_capacity(512 + out.scope.len());
    serde_json::to_writer(&mut body, &out).map_err(|e| {
        ApiError::Internal(format!("the introspection answer: {e}")).into_response()
    })?;
    Ok((true, json_bytes(StatusCode::OK, body)))
}

/// The form's `token`, as `IntrospectForm` reads it: one `token` and at most
/// one `token_type_hint` (a field sent twice is refused, as serde refuses a
/// duplicate field), other fields ignored. A body with nothing to decode (a
/// token is base64url and dots) is split in place; any `%` or `+` sends the
/// whole form through `form_urlencoded`, whose byte-by-byte decoding was 12 %
/// of an introspection.
fn token_field(body: &[u8]) -> Option<Cow<'_, str>> {
    match std::str::from_utf8(body) {
        Ok(form)
            if !form
                .bytes()
                .fold(false, |coded, b| coded | (b == b'%') | (b == b'+')) =>
        {
            only_token(form.split('&').filter(|p| !p.is_empty()).map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (Cow::Borrowed(name), Cow::Borrowed(value))
            }))
        }
        _ => only_token(form_urlencoded::parse(body)),
    }
}

/// The `token` of a form's fields (see [`token_field`]).
fn only_token<'a>(
    fields: impl Iterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
) -> Option<Cow<'a, str>> {
    let (mut token, mut hints) = (None, 0);
    for (name, value) in fields {
        match &*name {
            "token" if token.is_some() => return None,
            "token" => token = Some(value),
            "token_type_hint" if hints > 0 => return None,
            "token_type_hint" => hints += 1,
            _ => {}
        }
    }
    token
}

/// The request's `Authorization` header alone: the `HeaderMap` extractor
/// copies every header. A second one was refused before the handler
/// (`http::layers`).
pub struct Authorization(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for Authorization {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Authorization(
            parts.headers.get(header::AUTHORIZATION).cloned(),
        ))
    }
}

/// An active token's answer, serialized straight from the claims (no
/// intermediate JSON tree on the hot path).
#[derive(Serialize)]
struct Active<'a> {
    active: bool,
    token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<&'a keygate_core::token::Confirmation>,
    client_id: &'a keygate_core::ClientId,
    sub: &'a keygate_core::ClientId,
    org_id: &'a keygate_core::OrgId,
    account_id: &'a Option<keygate_core::AccountId>,
    scope: String,
    exp: i64,
    iat: i64,
    iss: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit: Option<LimitJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_networks: Option<Vec<String>>,
}

#[derive(Serialize)]
struct LimitJson {
    requests: u32,
    per_seconds: u32,
}

/// A 401 of introspection says which scheme it wants (RFC 7235).
fn challenge(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"keygate-introspection\""),
    );
    resp
}

fn introspection_caller_ok(app: &App, authorization: Option<&HeaderValue>) -> bool {
    app.settings
        .introspection_secret
        .as_ref()
        .is_some_and(|secret| basic_password_is(authorization, secret))
}

/// Whether `authorization` is HTTP Basic with any user name and the password
/// whose SHA-256 is `secret`.
fn basic_password_is(authorization: Option<&HeaderValue>, secret: &Digest) -> bool {
    let Some(encoded) = authorization
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(str::trim)
    else {
        return false;
    };
    // Decoded on the stack when it fits (every usual secret does), so asking
    // costs no allocation.
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut buf = [0u8; 256];
    let decoded = match engine.decode_slice(encoded, &mut buf) {
        Ok(n) => Cow::Borrowed(&buf[..n]),
        Err(_) => match engine.decode(encoded) {
            Ok(v) => Cow::Owned(v),
            Err(_) => return false,
        },
    };
    match std::str::from_utf8(&decoded)
        .ok()
        .and_then(|pair| pair.split_once(':'))
    {
        Some((_, password)) => sha256(password.as_bytes()).ct_eq(secret),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The password is read on the stack or, when longer than its buffer,
    /// from the heap: either way only the right one passes.
    #[test]
    fn the_basic_password_is_checked_however_long() {
        let basic = |pair: &[u8]| {
            let v = base64::engine::general_purpose::STANDARD.encode(pair);
            HeaderValue::from_str(&format!("Basic {v}")).unwrap()
        };
        for password in ["s3cret", &"long-secret-".repeat(40)] {
            let secret = sha256(password.as_bytes());
            let right = basic(format!("rs:{password}").as_bytes());
            assert!(basic_password_is(Some(&right), &secret), "{password}");
            let wrong = basic(format!("rs:{password}x").as_bytes());
            assert!(!basic_password_is(Some(&wrong), &secret));
            let nameless = basic(password.as_bytes());
            assert!(!basic_password_is(Some(&nameless), &secret), "no colon");
        }
        let secret = sha256(b"s3cret");
        assert!(!basic_password_is(None, &secret));
        for v in [
            "Basic !!!",
            "Bearer cnM6czNjcmV0",
            "Basic ",
            "basic cnM6czNjcmV0",
        ] {
            let v = HeaderValue::from_str(v).unwrap();
            assert!(!basic_password_is(Some(&v), &secret), "{v:?}");
        }
        let v = HeaderValue::from_str("Basic cnM6czNjcmV0").unwrap();
        assert!(basic_password_is(Some(&v), &secret), "rs:s3cret");
        assert!(
            !basic_password_is(Some(&basic(b"r\xffs:s3cret")), &secret),
            "not UTF-8"
        );
    }

    /// The form split in place reads what `form_urlencoded` reads.
    #[test]
    fn the_token_is_read_as_form_urlencoded_reads_it() {
        for body in [
            "token=a.b-c_d",
            "token_type_hint=x&token=a.b",
            "&&token=a.b&&z",
            "z=&token=a=b",
            "token",
            "token=",
            "token=a&token=b",
            "token=a&token_type_hint=1&token_type_hint=2",
            "token_type_hint=1",
            "",
            "=&=",
            "tok%65n=a%2Eb",
            "token=a+b",
            "token=%zz",
            "token=\u{e9}t\u{e9}",
        ] {
            let slow = only_token(form_urlencoded::parse(body.as_bytes()));
            assert_eq!(token_field(body.as_bytes()), slow, "{body}");
        }
        let bad_utf8 = b"token=a\xffb";
        assert_eq!(
            token_field(bad_utf8).as_deref(),
            Some("a\u{fffd}b"),
            "not UTF-8: decoded as form_urlencoded decodes it"
        );
        assert!(matches!(
            token_field(b"token=a.b"),
            Some(Cow::Borrowed("a.b"))
        ));
    }
}
