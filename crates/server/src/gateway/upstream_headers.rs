//! What the upstream hears from the built-in gateway: the client's headers,
//! less what only Keygate may say (who the caller is, which URL or method the
//! request "really" has, where it came from) and less Keygate's own cookies;
//! then Keygate's own view of the client in `Forwarded` and `X-Forwarded-*`.
//!
//! Nothing is copied when there is nothing to remove: these run on every
//! proxied request.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    // Most messages have none: one look at each name, and nothing removed,
    // hashed or copied (this runs twice on every proxied request).
    if !h.keys().any(|n| HOP_BY_HOP.contains(n)) {
        return;
    }
    // Names listed in `Connection` go too.
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
    for name in &HOP_BY_HOP {
        h.remove(name);
    }
}

/// Headers by which a front proxy tells the server behind it about the
/// request or the client, and method overrides. From a client they are lies:
/// IIS and older Symfony/Zend route by `X-Original-URL`/`X-Rewrite-URL`,
/// frameworks take the client's address, host and scheme from the others,
/// and an override would turn a read-only token's GET into a DELETE.
const ONLY_KEYGATE_SAYS: [&str; 14] = [
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "client-ip",
    "true-client-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "x-original-method",
    "x-original-host",
    "x-host",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Prefixes of the same: Keygate's identity headers and every
/// `X-Forwarded-*` (`-For`, `-Host`, `-Proto`, `-Port`, `-Prefix`, `-Ssl`, …).
const ONLY_KEYGATE_SAYS_PREFIX: [&str; 2] = ["x-keygate-", "x-forwarded-"];

/// Removes every header of `ONLY_KEYGATE_SAYS` and its prefixes, in either
/// spelling: `_` is taken for `-`, as WSGI/CGI servers read both alike
/// (header names are already lowercase).
pub fn strip_spoofable(h: &mut HeaderMap) {
    let doomed: Vec<HeaderName> = h.keys().filter(|n| spoofable(n)).cloned().collect();
    for name in doomed {
        h.remove(name);
    }
}

fn spoofable(name: &HeaderName) -> bool {
    let n = name.as_str().as_bytes();
    let same = |a: &[u8], b: &str| {
        a.len() == b.len()
            && a.iter().zip(b.bytes()).all(|(x, y)| {
                let x = if *x == b'_' { b'-' } else { *x };
                x == y
            })
    };
    ONLY_KEYGATE_SAYS_PREFIX
        .iter()
        .any(|p| n.len() > p.len() && same(&n[..p.len()], p))
        || ONLY_KEYGATE_SAYS.iter().any(|o| same(n, o))
}

/// Removes Keygate's own cookies from what the upstream hears: the session
/// (a session token works on `/dev/v1`), the sign-in form's pre-session and
/// the known-device cookie, under both names (`keygate_*` and
/// `__Host-keygate_*`) and any others Keygate sets later: every cookie whose
/// name, in any case and after an optional `__Host-`/`__Secure-` prefix,
/// starts with `keygate_`. The other cookies are kept, in one `Cookie` header
/// (RFC 6265 §5.4; several are joined with `; `); none is left when nothing
/// remains.
pub fn strip_keygate_cookies(h: &mut HeaderMap) {
    let mut values = h.get_all(header::COOKIE).iter();
    let Some(first) = values.next() else {
        return;
    };
    let several = values.next().is_some();
    if !several && !first.as_bytes().split(|b| *b == b';').any(keygate_cookie) {
        return;
    }
    let mut kept: Vec<u8> = Vec::new();
    for value in h.get_all(header::COOKIE) {
        for pair in value.as_bytes().split(|b| *b == b';') {
            let pair = pair.trim_ascii();
            if pair.is_empty() || keygate_cookie(pair) {
                continue;
            }
            if !kept.is_empty() {
                kept.extend_from_slice(b"; ");
            }
            kept.extend_from_slice(pair);
        }
    }
    h.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_bytes(&kept)
    {
        h.insert(header::COOKIE, v);
    }
}

/// Whether one `name=value` pair of a `Cookie` header is Keygate's. A pair
/// without `=` is judged by its whole text.
fn keygate_cookie(pair: &[u8]) -> bool {
    let pair = pair.trim_ascii();
    let name = match pair.iter().position(|b| *b == b'=') {
        Some(i) => pair[..i].trim_ascii(),
        None => pair,
    };
    let name = strip_prefix(name, b"__host-")
        .or_else(|| strip_prefix(name, b"__secure-"))
        .unwrap_or(name);
    strip_prefix(name, b"keygate_").is_some()
}

/// `s` without `prefix`, matched in any case.
fn strip_prefix<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// The host the client asked for, as Keygate received it (the request
/// target's authority, else `Host`), when it is a plain `host[:port]`.
pub fn requested_host(uri: &Uri, h: &HeaderMap) -> Option<HeaderValue> {
    let v = match uri.authority() {
        Some(a) => HeaderValue::from_str(a.as_str()).ok()?,
        None => h.get(header::HOST)?.clone(),
    };
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"-._:[]".contains(b);
    (!v.is_empty() && v.as_bytes().iter().all(plain)).then_some(v)
}

/// Keygate's own view of the request, replacing whatever the client said:
/// `X-Forwarded-For` (the client's address as `access::client_addr` decided
/// it), `X-Forwarded-Host`, `X-Forwarded-Proto`, and the same in one RFC 7239
/// `Forwarded`. Call after `strip_spoofable`.
pub fn set_forwarded(
    h: &mut HeaderMap,
    client: Option<IpAddr>,
    host: Option<HeaderValue>,
    tls: bool,
) {
    const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
    const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
    let proto = if tls { "https" } else { "http" };
    // Written piece by piece: this runs on every proxied request, and the
    // address is written once, for both headers.
    let mut forwarded = String::with_capacity(64);
    if let Some(ip) = client {
        let (open, close) = match ip {
            IpAddr::V4(_) => ("for=", ";"),
            IpAddr::V6(_) => ("for=\"[", "]\";"),
        };
        forwarded.push_str(open);
        let start = forwarded.len();
        match ip {
            IpAddr::V4(v4) => push_ipv4(&mut forwarded, v4),
            IpAddr::V6(v6) => {
                let _ = write!(forwarded, "{v6}");
            }
        }
        if let Ok(v) = HeaderValue::from_str(&forwarded[start..]) {
            h.insert(X_FORWARDED_FOR, v);
        }
        forwarded.push_str(close);
    }
    if let Some(host) = host {
        if let Ok(s) = host.to_str() {
            forwarded.push_str("host=\"");
            forwarded.push_str(s);
            forwarded.push_str("\";");
        }
        h.insert(X_FORWARDED_HOST, host);
    }
    forwarded.push_str("proto=");
    forwarded.push_str(proto);
    h.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        h.insert(header::FORWARDED, v);
    }
}

/// `a.b.c.d`, as `Display` writes it, without the formatting machinery.
fn push_ipv4(out: &mut String, ip: Ipv4Addr) {
    for (i, n) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if n >= 100 {
            out.push(char::from(b'0' + n / 100));
        }
        if n >= 10 {
            out.push(char::from(b'0' + n / 10 % 10));
        }
        out.push(char::from(b'0' + n % 10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_with_those_connection_names() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, X-Secret-Hop"),
            ("connection", "x-other"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "Basic eA=="),
            ("x-secret-hop", "1"),
            ("x-other", "2"),
            ("x-kept", "3"),
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-kept"]);
        // Without any hop-by-hop header, nothing changes.
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        h.insert(
            HeaderName::from_static("x-secret-hop"),
            HeaderValue::from_static("1"),
        );
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn what_only_keygate_says_is_spoofable_in_every_spelling() {
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
            "x-original-url",
            "x_original_url",
            "x-rewrite-url",
            "x_rewrite_url",
            "forwarded",
            "x-forwarded-for",
            "x_forwarded_for",
            "x-forwarded-host",
            "x_forwarded-proto",
            "x-forwarded-prefix",
            "x-real-ip",
            "x_real_ip",
        ] {
            assert!(spoofable(&HeaderName::from_static(n)), "{n}");
        }
        for n in [
            "x-keygate",
            "x-forwarded",
            "x-on-behalf-of",
            "x-http-methods",
            "content-type",
            "cookie",
        ] {
            assert!(!spoofable(&HeaderName::from_static(n)), "{n}");
        }
    }

    fn cookies_after(values: &[&str]) -> Vec<String> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::COOKIE, HeaderValue::from_str(v).unwrap());
        }
        strip_keygate_cookies(&mut h);
        h.get_all(header::COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn keygate_cookies_go_and_the_others_stay() {
        assert_eq!(
            cookies_after(&["a=1; keygate_session=s; b=2"]),
            ["a=1; b=2"]
        );
        assert_eq!(
            cookies_after(&["__Host-keygate_session=s;keygate_device=d ;  KEYGATE_PRESESSION=p"]),
            Vec::<String>::new()
        );
        assert_eq!(
            cookies_after(&[
                "a=1",
                "__host-keygate_session=s",
                " b=2 ; __Secure-keygate_x=y"
            ]),
            ["a=1; b=2"]
        );
        // Nothing to remove: untouched, spacing and all.
        assert_eq!(cookies_after(&["a=1;b=2"]), ["a=1;b=2"]);
        assert_eq!(
            cookies_after(&["keygate=1; my_keygate_session=2"]),
            ["keygate=1; my_keygate_session=2"]
        );
        assert!(cookies_after(&[]).is_empty());
    }

    #[test]
    fn keygate_states_the_client_host_and_scheme() {
        let mut h = HeaderMap::new();
        let host = HeaderValue::from_static("api.example.com:8443");
        set_forwarded(&mut h, "2001:db8::7".parse().ok(), Some(host), true);
        assert_eq!(h["x-forwarded-for"], "2001:db8::7");
        assert_eq!(h["x-forwarded-host"], "api.example.com:8443");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(
            h["forwarded"],
            "for=\"[2001:db8::7]\";host=\"api.example.com:8443\";proto=https"
        );
        // IPv4, written without `Display`, reads as `Display` writes it.
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "127.0.0.1",
            "10.0.100.9",
            "1.20.199.3",
            "100.99.10.9",
        ] {
            let mut h = HeaderMap::new();
            set_forwarded(&mut h, ip.parse().ok(), None, false);
            assert_eq!(h["x-forwarded-for"], ip);
            assert_eq!(h["x-forwarded-proto"], "http");
            assert_eq!(h["forwarded"], format!("for={ip};proto=http").as_str());
            assert!(h.get("x-forwarded-host").is_none());
        }
        let mut h = HeaderMap::new();
        set_forwarded(&mut h, None, None, false);
        assert_eq!(h["forwarded"], "proto=http");
        assert!(h.get("x-forwarded-for").is_none());
        let uri: Uri = "/x".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("a.test, evil.test"));
        assert_eq!(requested_host(&uri, &h), None);
    }
}
