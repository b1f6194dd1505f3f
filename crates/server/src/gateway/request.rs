//! What a request must look like before its token is even read, at the gateway
//! and at every forward-auth endpoint: a real method and a path that every
//! server behind Keygate reads the way the scope check does.

use keygate_core::catalog::{self, CheckedPath};

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

/// 400 `invalid_path` for a request target (path and query, as the request
/// line or a proxy's `X-Original-URI`/`X-Forwarded-Uri` gives it) that two
/// parsers could read two ways: a raw `#`, space or control character
/// anywhere in it (a `#` ends the path for one server and not for another:
/// `/invoices/list#/../../balances` is `/invoices/list` to the check and
/// `/balances` upstream), or a path `catalog::check_path` refuses. The query's
/// contents are not judged otherwise. Returns the path, checked.
pub fn path(target: &str) -> Result<CheckedPath<'_>, ApiError> {
    if target.bytes().any(|b| b == b'#' || b <= b' ' || b == 0x7f) {
        return Err(invalid_path());
    }
    let path = target.split('?').next().unwrap_or(target);
    catalog::check_path(path).map_err(|_| invalid_path())
}

pub fn invalid_path() -> ApiError {
    ApiError::BadRequest(
        "invalid_path",
        "the request target has a raw `#`, space or control character, or its path has a `;`, \
         an encoded `%`, `/`, `\\` or `.`, a `\\`, or an empty, `.` or `..` segment"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_seven_methods_exactly_as_spelled() {
        assert!(method("GET", None).is_ok());
        assert!(method("OPTIONS", None).is_ok());
        for m in ["get", "CONNECT", "TRACE", "FOO", ""] {
            assert!(method(m, None).is_err(), "{m}");
        }
    }

    #[test]
    fn a_raw_hash_space_or_control_character_anywhere_is_refused() {
        assert_eq!(
            path("/api/v1/invoices/list?x=a%23b")
                .ok()
                .map(|p| p.as_str()),
            Some("/api/v1/invoices/list")
        );
        for t in [
            "/api/v1/invoices/list#/../../balances/current",
            "/api/v1/invoices/list?x=#/../balances",
            "/api/v1/invoices/#",
            "/api/v1/invoices/list /../balances",
            "/api/v1/invoices/list\t",
            "/api/v1/invoices/list\u{7f}",
            "/api/v1/invoices/list?\u{0}",
        ] {
            assert!(path(t).is_err(), "{t:?}");
        }
    }
}
