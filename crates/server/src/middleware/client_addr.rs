//! The client's address: the socket's peer, or the client a `--trusted-proxy`
//! forwards for in `X-Forwarded-For`, walked from the right. The one place
//! that decides it; a header that cannot be read is refused, never guessed.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use keygate_core::network::TrustedProxies;
use keygate_core::text::quote;

use crate::service::Error;
use crate::state::app::{App, AppState};

/// The client's address: the socket's peer, or, when the peer is a
/// `--trusted-proxy`, the client it forwards for ([`forwarded_client`]).
/// `Ok(None)` only without a socket (in-process calls). A trusted proxy's
/// `X-Forwarded-For` that cannot be read is refused (400 `validation_error`,
/// `source: "x-forwarded-for"`), never replaced by the proxy's own address.
/// The one place that decides it: sign-in records and limits, login limits,
/// network allowlists, the gateway, forward-auth, introspection, the audit
/// log and last use all ask here.
pub fn client_addr(parts: &Parts, app: &App) -> Result<Option<IpAddr>, BadForwardedFor> {
    let Some(peer) = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
    else {
        return Ok(None);
    };
    let trusted = &app.settings.trusted_proxies;
    if !trusted.contains(peer) {
        return Ok(Some(peer));
    }
    Ok(Some(
        forwarded_client(&parts.headers, trusted)?.unwrap_or(peer),
    ))
}

/// A trusted proxy's `X-Forwarded-For` that names no address where Keygate
/// must read one: the client's address is unknown, and the request refused.
#[derive(Debug, Clone)]
pub struct BadForwardedFor(String);

impl BadForwardedFor {
    fn entry(raw: &str) -> BadForwardedFor {
        let raw = raw.trim_matches([' ', '\t']);
        BadForwardedFor(if raw.is_empty() {
            "an empty entry".to_owned()
        } else {
            quote(raw)
        })
    }
}

impl From<BadForwardedFor> for Error {
    fn from(e: BadForwardedFor) -> Error {
        Error::Invalid {
            field: "x-forwarded-for".to_owned(),
            message: format!(
                "the X-Forwarded-For header from the trusted proxy has {} where a plain IP \
                 address must be (no port, no name such as \"unknown\"): the client's address \
                 cannot be decided; the proxy must set the header to the address it was \
                 connected from",
                e.0
            ),
        }
    }
}

/// Just the client's address ([`client_addr`]), for the gateway's hot path,
/// which needs no user agent. Extracting it never fails: the gateway counts
/// a refusal of the address with its other refusals (`ClientAddr::ip`).
#[derive(Debug, Clone)]
pub struct ClientAddr(Result<Option<IpAddr>, BadForwardedFor>);

impl ClientAddr {
    /// The address, or the refusal of a request whose address cannot be
    /// decided.
    pub fn ip(&self) -> Result<Option<IpAddr>, Error> {
        match &self.0 {
            Ok(ip) => Ok(*ip),
            Err(e) => Err(e.clone().into()),
        }
    }
}

impl<S> FromRequestParts<S> for ClientAddr
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(parts, &AppState::from_ref(state))))
    }
}

/// The header trusted proxies name the client in. `Forwarded` (RFC 7239) is
/// not read: a proxy that sets one header and passes the client's copy of the
/// other through would let the client choose its address, and every proxy
/// Keygate ships an example for sets `X-Forwarded-For`.
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The client behind trusted proxies. Each proxy appends the address it was
/// connected from, so the chain is walked from the right (several headers
/// are one list, in order): trusted proxies are skipped and the first other
/// entry is the client; entries further left are whatever the client claimed
/// and are not read. When every entry is a trusted proxy, the leftmost is the
/// client. An entry walked that is not a plain address (a port, `unknown`,
/// an obfuscated name, empty, not text) is an error, never skipped. No
/// header: `None` (the proxy is the client). No allocation unless refused.
fn forwarded_client(
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> Result<Option<IpAddr>, BadForwardedFor> {
    let mut leftmost = None;
    for value in headers.get_all(X_FORWARDED_FOR).iter().rev() {
        let text = value
            .to_str()
            .map_err(|_| BadForwardedFor("a value that is not plain text".to_owned()))?;
        for entry in text.rsplit(',') {
            let ip = plain_ip(entry).ok_or_else(|| BadForwardedFor::entry(entry))?;
            if !trusted.contains(ip) {
                return Ok(Some(ip));
            }
            leftmost = Some(ip);
        }
    }
    Ok(leftmost)
}

/// One `X-Forwarded-For` entry: an IPv4 or IPv6 address, optional spaces
/// around it, IPv6 optionally in brackets. An IPv4-mapped IPv6 address is
/// its IPv4 address.
fn plain_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim_matches([' ', '\t']);
    let ip = match entry.strip_prefix('[') {
        Some(v6) => IpAddr::V6(v6.strip_suffix(']')?.parse::<Ipv6Addr>().ok()?),
        None => entry.parse().ok()?,
    };
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, v.parse().unwrap());
        }
        h
    }

    fn ips(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            list.iter()
                .map(|s| keygate_core::network::Cidr::parse(s).unwrap())
                .collect(),
        )
    }

    fn client(values: &[&str], trusted: &[&str]) -> Result<Option<IpAddr>, String> {
        forwarded_client(&headers(values), &ips(trusted)).map_err(|e| e.0)
    }

    fn ip(s: &str) -> Result<Option<IpAddr>, String> {
        Ok(Some(s.parse().unwrap()))
    }

    #[test]
    fn a_trusted_network_trusts_every_address_in_it_and_no_other() {
        let lbs = ["10.0.0.0/24", "fd00::/8"];
        assert_eq!(
            client(&["198.51.100.7, 10.0.0.9, 10.0.0.200"], &lbs),
            ip("198.51.100.7")
        );
        assert_eq!(client(&["198.51.100.7, 10.0.1.1"], &lbs), ip("10.0.1.1"));
        assert_eq!(client(&["198.51.100.7, fd12::1"], &lbs), ip("198.51.100.7"));
        assert_eq!(
            client(&["198.51.100.7, ::ffff:10.0.0.3"], &lbs),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn the_client_is_the_first_untrusted_entry_from_the_right() {
        let lbs = ["10.0.0.2", "10.0.0.3", "10.0.0.4"];
        // The client's own claims on the left are never read.
        assert_eq!(
            client(&["203.0.113.9, 198.51.100.7, 10.0.0.3, 10.0.0.4"], &lbs),
            ip("198.51.100.7")
        );
        // Several headers are one list, in order.
        assert_eq!(
            client(&["203.0.113.9, 198.51.100.7", "10.0.0.3", "10.0.0.2"], &lbs),
            ip("198.51.100.7")
        );
        assert_eq!(
            client(&["10.0.0.3", "198.51.100.7"], &lbs),
            ip("198.51.100.7")
        );
        // Every entry a trusted proxy: the leftmost is the client.
        assert_eq!(
            client(&["10.0.0.4, 10.0.0.3", "10.0.0.2"], &lbs),
            ip("10.0.0.4")
        );
        // No header: none named, the peer is the client.
        assert_eq!(client(&[], &lbs), Ok(None));
        // What the client put left of the client entry is not read.
        assert_eq!(client(&["unknown, 198.51.100.7"], &lbs), ip("198.51.100.7"));
        assert_eq!(client(&["x", "198.51.100.7"], &lbs), ip("198.51.100.7"));
    }

    #[test]
    fn spaces_ipv6_brackets_and_mapped_addresses_are_read() {
        let lb = ["10.0.0.2"];
        assert_eq!(
            client(&[" \t198.51.100.7 ,10.0.0.2\t"], &lb),
            ip("198.51.100.7")
        );
        assert_eq!(client(&["2001:db8::7, 10.0.0.2"], &lb), ip("2001:db8::7"));
        assert_eq!(client(&["[2001:db8::7]"], &lb), ip("2001:db8::7"));
        assert_eq!(client(&["::ffff:198.51.100.7"], &lb), ip("198.51.100.7"));
        // A trusted proxy written in its mapped form is still the proxy.
        assert_eq!(
            client(&["198.51.100.7, ::ffff:10.0.0.2"], &lb),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn an_entry_that_is_not_a_plain_address_is_refused_never_skipped() {
        let lb = ["10.0.0.2"];
        for bad in [
            "x",
            "unknown",
            "_hidden",
            "1.2.3.4:80",
            "[2001:db8::7]:443",
            "2001:db8::7]",
            "[198.51.100.7]",
            "fe80::1%eth0",
            "",
            " ",
            "198.51.100.7,",
            "198.51.100.7,,10.0.0.2",
            "198.51.100.7 10.0.0.2",
            "1.2.3",
            "01.2.3.4",
            "for=198.51.100.7",
            "\"198.51.100.7\"",
        ] {
            assert!(client(&[bad], &lb).is_err(), "{bad:?}");
            assert!(
                client(&[bad, "10.0.0.2"], &lb).is_err(),
                "{bad:?} before a proxy"
            );
        }
        assert!(
            client(&["198.51.100.7", ""], &lb).is_err(),
            "an empty header"
        );
        let mut h = HeaderMap::new();
        h.append(
            X_FORWARDED_FOR,
            axum::http::HeaderValue::from_bytes(b"198.51.100.\xff").unwrap(),
        );
        assert!(forwarded_client(&h, &ips(&lb)).is_err(), "not text");
        // The message names the entry, so an operator sees what the proxy sent.
        let e = client(&["1.2.3.4:80"], &lb).unwrap_err();
        assert_eq!(e, "\"1.2.3.4:80\"");
        assert_eq!(client(&[" "], &lb).unwrap_err(), "an empty entry");
    }
}
