//! DPoP proofs seen recently (RFC 9449 §11.1): a proof's `jti` is accepted
//! once. A proof is only good while its `iat` is within
//! `dpop::IAT_WINDOW_SECS` of now, so a `jti` is remembered until then and no
//! longer: after that the time check refuses the proof anyway, which makes
//! the memory bounded by the proofs of two minutes, whatever the tokens'
//! lifetimes.
//!
//! Per instance. Behind a load balancer a replay that reaches another
//! instance within those two minutes is not caught; with `--redis-url` this
//! could be one `SET NX PX` per DPoP request (never on the bearer path), which
//! is not done yet (see docs/machine-access.md).

use std::collections::HashMap;
use std::sync::Mutex;

use keygate_core::crypto::{Digest, sha256};

/// At most this many proofs are remembered; past it, once the expired ones
/// are swept, a new proof is refused rather than a replay let through.
const CAPACITY: usize = 200_000;

#[derive(Default)]
pub struct SeenProofs {
    seen: Mutex<HashMap<Digest, i64>>,
}

impl SeenProofs {
    /// Whether this is the first use of the proof `jti` of the key `jkt`, at
    /// `now` (Unix seconds); remembers it until `until` (Unix seconds).
    pub fn first_use(&self, jkt: &str, jti: &str, now: i64, until: i64) -> bool {
        let id = sha256(format!("{jkt}\u{1f}{jti}").as_bytes());
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&t) = seen.get(&id)
            && t >= now
        {
            return false;
        }
        if seen.len() >= CAPACITY {
            seen.retain(|_, t| *t >= now);
            if seen.len() >= CAPACITY {
                return false;
            }
        }
        seen.insert(id, until);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_is_used_once_while_it_is_remembered() {
        let s = SeenProofs::default();
        assert!(s.first_use("k", "j", 100, 160));
        assert!(!s.first_use("k", "j", 150, 210));
        assert!(s.first_use("other", "j", 150, 210));
        assert!(s.first_use("k", "j", 161, 221));
    }
}
