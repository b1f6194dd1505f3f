//! Outside OIDC issuers' signing keys (workload identity federation), by
//! issuer and `kid`: read once, kept for an hour, and read again on an unknown
//! `kid` at most once a minute per issuer, so tokens with made-up kids cannot
//! make Keygate hammer an issuer (or its own outbound connections). Only an
//! issuer that some key's rule names is ever asked for; the service checks
//! that before it looks here. The reading itself is `notify::fetch`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use keygate_core::federation::Jwk;

/// An unknown `kid` makes Keygate read the issuer's JWKS again at most this often.
pub const REREAD_INTERVAL_MS: i64 = 60_000;
/// Keys are read again after this long even when every kid is known, so a key
/// the issuer withdrew stops verifying.
pub const MAX_AGE_MS: i64 = 3_600_000;
/// After a failed read, the next read waits this long.
const FAILED_WAIT_MS: i64 = 10_000;
/// Issuers come only from keys' rules (at most 10 a key); the bound is a
/// guard, not a policy. When full, the least recently read issuer goes.
const MAX_ISSUERS: usize = 10_000;

/// Every issuer read so far.
#[derive(Default)]
pub struct IssuerKeys {
    issuers: Mutex<HashMap<String, Arc<Issuer>>>,
}

/// One issuer: its keys, and a lock that one reader holds while it reads, so
/// concurrent exchanges of a new issuer read its documents once.
#[derive(Default)]
pub struct Issuer {
    pub reading: tokio::sync::Mutex<()>,
    known: Mutex<Known>,
}

#[derive(Default)]
struct Known {
    keys: HashMap<String, Jwk>,
    /// When the keys were read (Unix ms).
    read_at: Option<i64>,
    /// When an unknown kid last led to a read.
    reread_at: Option<i64>,
    failed_at: Option<i64>,
}

/// What to do about a token's `kid`.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Key(Jwk),
    /// Read the issuer's documents (first time, keys too old, or an unknown
    /// kid the minute's read is still free for), then look again.
    Read,
    /// An unknown kid, and the issuer was read for one within the minute.
    Unknown,
    /// The last read failed a moment ago.
    Unavailable,
}

impl IssuerKeys {
    pub fn issuer(&self, iss: &str) -> Arc<Issuer> {
        let mut map = self.issuers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = map.get(iss) {
            return i.clone();
        }
        if map.len() >= MAX_ISSUERS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, i)| i.known().read_at.unwrap_or(i64::MIN))
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        let i = Arc::new(Issuer::default());
        map.insert(iss.to_owned(), i.clone());
        i
    }
}

impl Issuer {
    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What to do about `kid` at `now` (Unix ms).
    pub fn lookup(&self, kid: &str, now: i64) -> Lookup {
        let k = self.known();
        let fresh = k.read_at.is_some_and(|r| now - r < MAX_AGE_MS);
        if fresh {
            if let Some(key) = k.keys.get(kid) {
                return Lookup::Key(key.clone());
            }
            if k.reread_at.is_some_and(|r| now - r < REREAD_INTERVAL_MS) {
                return Lookup::Unknown;
            }
            return Lookup::Read;
        }
        if k.failed_at.is_some_and(|f| now - f < FAILED_WAIT_MS) {
            return Lookup::Unavailable;
        }
        Lookup::Read
    }

    /// A read is starting at `now`: if the keys are fresh, it is the
    /// minute's read for an unknown kid.
    pub fn reading_at(&self, now: i64) {
        let mut k = self.known();
        if k.read_at.is_some_and(|r| now - r < MAX_AGE_MS) {
            k.reread_at = Some(now);
        }
    }

    /// The keys a read found.
    pub fn read(&self, keys: HashMap<String, Jwk>, now: i64) {
        let mut k = self.known();
        k.keys = keys;
        k.read_at = Some(now);
        k.failed_at = None;
    }

    /// A read failed: the keys read before stay (until they are too old).
    pub fn failed(&self, now: i64) {
        self.known().failed_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Jwk {
        Jwk::P256 { point: vec![4; 65] }
    }

    #[test]
    fn an_unknown_kid_reads_again_once_a_minute() {
        let i = Issuer::default();
        assert_eq!(i.lookup("k1", 0), Lookup::Read);
        i.reading_at(0);
        i.read([("k1".to_owned(), key())].into(), 0);
        assert_eq!(i.lookup("k1", 1_000), Lookup::Key(key()));
        // The first unknown kid after the first read may read at once.
        assert_eq!(i.lookup("k2", 1_000), Lookup::Read);
        i.reading_at(1_000);
        i.read([("k1".to_owned(), key())].into(), 1_000);
        assert_eq!(i.lookup("k3", 2_000), Lookup::Unknown);
        assert_eq!(i.lookup("k3", 61_000), Lookup::Read);
        // Keys too old are read again whatever the kid.
        assert_eq!(i.lookup("k1", 1_000 + MAX_AGE_MS), Lookup::Read);
    }

    #[test]
    fn a_failed_read_waits_before_the_next() {
        let i = Issuer::default();
        i.reading_at(0);
        i.failed(0);
        assert_eq!(i.lookup("k1", 5_000), Lookup::Unavailable);
        assert_eq!(i.lookup("k1", FAILED_WAIT_MS), Lookup::Read);
    }
}
