//! Request headers a decision depends on are read only when they were sent
//! once. With two `Authorization` (or `Content-Type`, or `X-Original-URI`)
//! field lines, Keygate would judge the first while a server behind it may
//! read the last: the request is refused instead, on every surface.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// A header that must be sent at most once came more than once; the surface
/// answers 400 `validation_error` with the header's name as `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated(pub &'static str);

/// The one value of header `name`, `None` when it is absent. Costs one
/// lookup and allocates nothing. Names are [`HeaderName`]s made once (a
/// `&str` is parsed and checked again at every lookup).
pub fn one<'a>(
    h: &'a HeaderMap,
    name: &'static HeaderName,
) -> Result<Option<&'a HeaderValue>, Repeated> {
    let mut values = h.get_all(name).iter();
    let first = values.next();
    match values.next() {
        Some(_) => Err(Repeated(name.as_str())),
        None => Ok(first),
    }
}

/// The names [`one`] is asked for by more than one surface.
pub static AUTHORIZATION: HeaderName = header::AUTHORIZATION;
pub static CONTENT_TYPE: HeaderName = header::CONTENT_TYPE;
/// A DPoP proof (RFC 9449).
pub static DPOP: HeaderName = HeaderName::from_static("dpop");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_read_only_when_sent_once() {
        let mut h = HeaderMap::new();
        assert_eq!(one(&h, &AUTHORIZATION), Ok(None));
        h.append("authorization", HeaderValue::from_static("Bearer a"));
        assert_eq!(
            one(&h, &AUTHORIZATION).map(|v| v.map(HeaderValue::as_bytes)),
            Ok(Some(&b"Bearer a"[..]))
        );
        h.append("authorization", HeaderValue::from_static("Bearer b"));
        assert_eq!(one(&h, &AUTHORIZATION), Err(Repeated("authorization")));
    }
}
