//! Webhook targets: a registered URL must not turn Keygate into a way to reach
//! its own network (loopback, private ranges, link-local, the cloud metadata
//! service). Checked at registration and again at every delivery, on the
//! addresses the delivery then connects to, because DNS can change.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::http::Uri;

/// A parsed webhook URL.
#[derive(Debug, Clone)]
pub struct Target {
    pub https: bool,
    /// Without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// What the `Host` header says.
    pub authority: String,
    pub path_and_query: String,
}

const MAX_URL_LEN: usize = 2048;

/// Parses a webhook URL: https only (http too when `insecure`), a host, no
/// user name or password, no fragment.
pub fn parse(url: &str, insecure: bool) -> Result<Target, String> {
    if url.len() > MAX_URL_LEN || url.contains(['#', ' ', '\t', '\r', '\n']) {
        return Err(
            "must be an absolute URL of at most 2048 characters, without a fragment".into(),
        );
    }
    let uri: Uri = url.parse().map_err(|_| "is not a valid URL".to_owned())?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") if insecure => false,
        _ => return Err("must start with https://".into()),
    };
    let authority = uri.authority().ok_or("must name a host")?.clone();
    if authority.as_str().contains('@') {
        return Err("must not contain a user name or password".into());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err("must name a host".into());
    }
    Ok(Target {
        https,
        host: host.to_ascii_lowercase(),
        port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
        authority: authority.as_str().to_owned(),
        path_and_query: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".into()),
    })
}

/// The addresses to connect to, every one of them checked: refused when any
/// is not a public unicast address (unless `insecure`).
pub async fn resolve(t: &Target, insecure: bool) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = match t.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, t.port)],
        Err(_) => tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((t.host.as_str(), t.port)),
        )
        .await
        .map_err(|_| "DNS lookup timed out".to_owned())?
        .map_err(|_| "the host name does not resolve".to_owned())?
        .collect(),
    };
    if addrs.is_empty() {
        return Err("the host name does not resolve".into());
    }
    if !insecure && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(
            "resolves to a loopback, private, link-local or metadata address; webhooks must reach a public address"
                .into(),
        );
    }
    Ok(addrs)
}

/// A globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, the metadata service among them
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10, carrier-grade NAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24, protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18/15, benchmarking
        || (o[0] == 192 && o[1] == 88 && o[2] == 99) // 192.88.99/24, 6to4 relay anycast (deprecated)
        || o[0] >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let s = ip.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return public_v4(embedded(s[1], s[2]));
    }
    // Local-use NAT64 (64:ff9b:1::/48, RFC 8215) translates to whatever the
    // operator's translator reaches, internal networks included: never public.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        return false;
    }
    // IPv4-translated (::ffff:0:0:0/96, RFC 2765): `::ffff:0:a.b.c.d`, not the
    // IPv4-mapped `::ffff:a.b.c.d` handled above. Stacks that honour it reach
    // the IPv4 address; refused whole, as the deprecated IPv4-compatible form.
    if s[0..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0 {
        return false;
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || s[0..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible, deprecated
        || (s[0] & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 (metadata) among them
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local, deprecated
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0)) // Teredo
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "192.88.99.1",
            "192.88.99.255",
            "2002:c058:6301::1",
            "64:ff9b:1::1",
            "64:ff9b:1:ffff::5db8:d822",
            "::ffff:0:8.8.8.8",
            "::ffff:0:127.0.0.1",
            "::ffff:0:0",
        ] {
            assert!(!is_public(ip(a)), "{a} counted as public");
        }
    }

    #[test]
    fn internet_addresses_are_public() {
        for a in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "192.88.98.1",
            "192.88.100.1",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip(a)), "{a} counted as internal");
        }
    }

    #[test]
    fn urls_must_be_https_without_credentials_unless_insecure() {
        assert!(parse("http://hooks.example.com/x", false).is_err());
        assert!(parse("http://127.0.0.1:9/x", true).is_ok());
        assert!(parse("https://user:pw@hooks.example.com/", false).is_err());
        assert!(parse("ftp://hooks.example.com/", true).is_err());
        let t = parse("https://[2606:4700::1]:8443/in?a=1", false).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path_and_query.as_str()),
            ("2606:4700::1", 8443, "/in?a=1")
        );
    }

    #[tokio::test]
    async fn loopback_targets_are_refused_before_any_connection() {
        let t = parse("https://127.0.0.1/hook", false).unwrap();
        assert!(resolve(&t, false).await.is_err());
        let t = parse("https://localhost/hook", false).unwrap();
        assert!(resolve(&t, false).await.is_err());
        assert!(resolve(&t, true).await.is_ok());
    }
}
