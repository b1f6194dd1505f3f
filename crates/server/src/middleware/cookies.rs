//! Cookies Keygate sets in browsers (the app's session, the sign-in form's
//! pre-session, the known-device cookie, single sign-on's pending state) and whether the browser reached us
//! over TLS, which decides their names: over TLS only the `__Host-` form is
//! set and read.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

use keygate_core::network::TrustedProxies;

use crate::state::app::AppState;

/// Whether the browser reached us over TLS (directly or through a trusted
/// proxy that says so). Only then are cookies `Secure` with the `__Host-`
/// prefix, and only those are read back.
pub struct Tls(pub bool);

impl<S> FromRequestParts<S> for Tls
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        Ok(Tls(is_tls(parts, &app.settings.trusted_proxies)))
    }
}

/// Set on every request of a connection Keygate itself took over TLS
/// (`serve --tls-cert`).
#[derive(Clone, Copy, Debug)]
pub struct ServedOverTls;

/// Whether the browser reached us over TLS: the request itself (Keygate's own
/// TLS), or a trusted proxy's `X-Forwarded-Proto: https` (anyone else's is
/// not believed).
pub fn is_tls(parts: &Parts, trusted: &TrustedProxies) -> bool {
    if parts.uri.scheme_str() == Some("https") || parts.extensions.get::<ServedOverTls>().is_some()
    {
        return true;
    }
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical());
    peer.is_some_and(|p| trusted.contains(p))
        && parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// A cookie's value. Over TLS only its `__Host-` form counts: that one can
/// only have been set by this host over TLS, whereas a plain cookie can be
/// planted by a sibling subdomain or a plain-HTTP response (session fixation).
/// Over plain HTTP either name is read.
pub fn cookie(headers: &HeaderMap, base: &str, tls: bool) -> Option<String> {
    let host = format!("__Host-{base}");
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == host || (!tls && *k == base))
        .map(|(_, v)| v.to_owned())
}

fn cookie_name(base: &str, tls: bool) -> String {
    if tls {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// `Set-Cookie` for a cookie only this site's pages send back.
pub fn set_cookie(base: &str, value: &str, max_age_secs: i64, tls: bool) -> HeaderValue {
    cookie_header(base, value, max_age_secs, tls, "Strict")
}

/// `Set-Cookie` for a cookie that must also come back when another site
/// sends the browser here with a top-level GET (`SameSite=Lax`): single
/// sign-on's pending state and the session it opens arrive with the
/// provider's redirect, which a `Strict` cookie does not follow. Changes
/// still need the forms' tokens, which no other site can read.
pub fn set_lax_cookie(base: &str, value: &str, max_age_secs: i64, tls: bool) -> HeaderValue {
    cookie_header(base, value, max_age_secs, tls, "Lax")
}

fn cookie_header(base: &str, value: &str, max_age: i64, tls: bool, same_site: &str) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let v = format!(
        "{}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}",
        cookie_name(base, tls)
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}
