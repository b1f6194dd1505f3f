//! What a request must look like before its token is even read, at the gateway
//! and at every forward-auth endpoint: a real method and a path that every
//! server behind Keygate reads the way the scope check does. And what the
//! gateway removes from a request before the upstream sees it.

use axum::http::{HeaderMap, HeaderName};
use keygate_core::catalog;

use crate::http::error::ApiError;

/// The methods the permission model knows (`read` = GET/HEAD, `write` = the
/// rest). Exact and uppercase: `get`, `CONNECT`, `TRACE` or `FOO` would be
/// counted as writes and mean something else, or nothing, upstream.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// 405 unless `method` is one of `METHODS`; `source` names the header that
/// carried it (forward-auth), `None` for the request's own method.
pub fn method(method: &str, source: Option<&'static str>) -> Result<(), ApiError> {
    if METHODS.contains(&method) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMethod { source })
    }
}

/// 400 `invalid_path` for a path two parsers could read two ways (see
/// `catalog::check_path`); a query string or fragment after it is not judged.
pub fn path(uri: &str) -> Result<&str, ApiError> {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    catalog::check_path(path).map_err(|_| invalid_path())?;
    Ok(path)
}

pub fn invalid_path() -> ApiError {
    ApiError::BadRequest(
        "invalid_path",
        "the path has a `;`, an encoded `%`, `/`, `\\` or `.`, a `\\`, or an empty, `.` or `..` \
         segment"
            .into(),
    )
}

/// Removes what a client could use to speak for Keygate or to change the
/// method behind the scope check's back: every header that reads as
/// `x-keygate-*` once `_` is taken for `-` (WSGI/CGI servers read both alike),
/// and the method-override headers in either spelling.
pub fn strip_spoofable(h: &mut HeaderMap) {
    let doomed: Vec<HeaderName> = h.keys().filter(|n| spoofable(n)).cloned().collect();
    for name in doomed {
        h.remove(name);
    }
}

fn spoofable(name: &HeaderName) -> bool {
    // Header names are stored lowercase.
    let n = name.as_str().as_bytes();
    let same = |a: &[u8], b: &str| {
        a.len() == b.len()
            && a.iter().zip(b.bytes()).all(|(x, y)| {
                let x = if *x == b'_' { b'-' } else { *x };
                x == y
            })
    };
    (n.len() > 10 && same(&n[..10], "x-keygate-"))
        || [
            "x-http-method-override",
            "x-http-method",
            "x-method-override",
        ]
        .iter()
        .any(|o| same(n, o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygate_and_override_headers_are_spoofable_in_every_spelling() {
        for n in [
            "x-keygate-account-id",
            "x_keygate_account_id",
            "x-keygate_org-id",
            "x_keygate-anything",
            "x-http-method-override",
            "x_http_method_override",
            "x-http-method",
            "x_http_method",
            "x-method-override",
            "x_method_override",
        ] {
            assert!(spoofable(&HeaderName::from_static(n)), "{n}");
        }
        for n in [
            "x-keygate",
            "x-on-behalf-of",
            "x-http-methods",
            "content-type",
        ] {
            assert!(!spoofable(&HeaderName::from_static(n)), "{n}");
        }
    }

    #[test]
    fn only_the_seven_methods_exactly_as_spelled() {
        assert!(method("GET", None).is_ok());
        assert!(method("OPTIONS", None).is_ok());
        for m in ["get", "CONNECT", "TRACE", "FOO", ""] {
            assert!(method(m, None).is_err(), "{m}");
        }
    }
}
