//! Network allowlists of keys: the IPv4 and IPv6 networks (CIDR) a key may
//! log in from and its tokens may be used from.
//!
//! A bare address is a one-address network (`/32`, `/128`). A network whose
//! address has bits set past its prefix (`203.0.113.7/24`) is refused rather
//! than silently widened: it is usually a typo for a single address or for
//! another network. Addresses are kept in the canonical text form
//! (`2001:db8::/32`), so an allowlist reads back the same however it was typed.

use std::fmt;
use std::net::IpAddr;

use crate::text::{Invalid, quote};

/// One network: an address and how many of its leading bits are fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `a.b.c.d/n`, `x::y/n`, or a bare address. The error says why, without
    /// the field name (see [`Networks::parse`]).
    pub fn parse(raw: &str) -> Result<Cidr, String> {
        let s = raw.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{} is not an IPv4 or IPv6 address", quote(addr)))?;
        let max = max_prefix(addr);
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && !p.starts_with('+') => n,
                _ => {
                    return Err(format!(
                        "the prefix length after / must be a number from 0 to {max}"
                    ));
                }
            },
        };
        let cidr = Cidr { addr, prefix };
        if cidr.network() != addr {
            return Err(format!(
                "{} has bits set after the first {prefix}: write {} for the network, or the \
                 address alone for one address",
                quote(s),
                Cidr {
                    addr: cidr.network(),
                    prefix
                }
            ));
        }
        Ok(cidr)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // `addr` is a network address (`parse` refuses any other), so an
        // address of the same family is inside when masking gives it back.
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && masked(ip, self.prefix) == self.addr
    }

    /// The address with the bits after the prefix cleared.
    fn network(&self) -> IpAddr {
        masked(self.addr, self.prefix)
    }
}

/// `addr` with the bits after its first `prefix` cleared.
fn masked(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The proxies and load balancers in front of Keygate (`--trusted-proxy`),
/// as addresses or networks. Unlike a key's allowlist, empty trusts nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn new(networks: Vec<Cidr>) -> TrustedProxies {
        TrustedProxies(networks)
    }

    /// Whether `ip` (in any spelling: `::ffff:10.0.0.2` is 10.0.0.2) is one.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A key's allowlist. Empty means anywhere (no restriction).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Networks(Vec<Cidr>);

impl Networks {
    /// At most this many networks per key.
    pub const MAX: usize = 100;

    /// Checks a list sent by a client. Each error names the entry in its
    /// `source` as `allowed_networks[i]` (0-based, like a JSON path), so the
    /// app can show it next to the line it came from.
    pub fn parse<S: AsRef<str>>(entries: &[S], field: &str) -> Result<Networks, Invalid> {
        if entries.len() > Self::MAX {
            return Err(Invalid::new(
                field,
                format!(
                    "at most {} networks per key ({} sent)",
                    Self::MAX,
                    entries.len()
                ),
            ));
        }
        let mut out: Vec<Cidr> = Vec::with_capacity(entries.len());
        for (i, raw) in entries.iter().enumerate() {
            let at = format!("{field}[{i}]");
            let cidr = Cidr::parse(raw.as_ref()).map_err(|m| Invalid::new(&at, m))?;
            if let Some(j) = out.iter().position(|c| *c == cidr) {
                return Err(Invalid::new(
                    &at,
                    format!("{cidr} is listed twice (also entry {j})"),
                ));
            }
            out.push(cidr);
        }
        Ok(Networks(out))
    }

    /// Reads a list this server wrote (canonical, valid); `None` if not.
    pub fn from_stored(entries: &[String]) -> Option<Networks> {
        Networks::parse(entries, "allowed_networks").ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `ip` may use the key: always when the list is empty.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|c| c.contains(ip))
    }

    /// The networks as text, canonical, in the order given.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_networks_and_bare_addresses() {
        let n = Networks::parse(
            &[
                "203.0.113.0/24",
                "2001:DB8::/32",
                "127.0.0.2",
                "::1",
                "0.0.0.0/0",
            ],
            "allowed_networks",
        )
        .unwrap();
        assert_eq!(
            n.to_strings(),
            [
                "203.0.113.0/24",
                "2001:db8::/32",
                "127.0.0.2/32",
                "::1/128",
                "0.0.0.0/0"
            ]
        );
    }

    #[test]
    fn matches_addresses_inside_only() {
        let n = Networks::parse(&["203.0.113.0/24", "2001:db8::/32"], "f").unwrap();
        assert!(n.allows(ip("203.0.113.255")));
        assert!(!n.allows(ip("203.0.114.0")));
        assert!(n.allows(ip("2001:db8:1::5")));
        assert!(!n.allows(ip("2001:db9::")));
        // An IPv4 client seen through a dual-stack socket.
        assert!(n.allows(ip("::ffff:203.0.113.9")));
        let one = Networks::parse(&["127.0.0.2"], "f").unwrap();
        assert!(one.allows(ip("127.0.0.2")) && !one.allows(ip("127.0.0.1")));
        assert!(Networks::default().allows(ip("10.1.2.3")));
        assert!(
            Networks::parse(&["0.0.0.0/0"], "f")
                .unwrap()
                .allows(ip("8.8.8.8"))
        );
    }

    #[test]
    fn refuses_bad_entries_naming_which() {
        let e = Networks::parse(&["10.0.0.0/8", "300.1.2.3/8"], "allowed_networks").unwrap_err();
        assert_eq!(e.source, "allowed_networks[1]");
        assert!(e.message.contains("not an IPv4 or IPv6 address"), "{e:?}");
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/x",
            "10.0.0.0/+8",
            "",
        ] {
            assert!(Networks::parse(&[bad], "f").is_err(), "{bad}");
        }
        let e = Networks::parse(&["10.0.0.7/8"], "f").unwrap_err();
        assert!(e.message.contains("10.0.0.0/8"), "{e:?}");
        let e = Networks::parse(&["10.0.0.1", "10.0.0.1/32"], "f").unwrap_err();
        assert_eq!(e.source, "f[1]");
        let many: Vec<String> = (0..101).map(|i| format!("10.0.0.{i}")).collect();
        assert_eq!(Networks::parse(&many, "f").unwrap_err().source, "f");
        assert!(Networks::parse(&many[..100], "f").is_ok());
    }
}
