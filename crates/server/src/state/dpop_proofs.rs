//! DPoP proofs seen recently (RFC 9449 §11.1): a proof's `jti` is accepted
//! once. A proof is only good while its `iat` is within
//! `dpop::IAT_WINDOW_SECS` of now, so a `jti` is remembered until then and no
//! longer: after that the time check refuses the proof anyway, which makes
//! the memory bounded by the proofs of two minutes, whatever the tokens'
//! lifetimes.
//!
//! With `--redis-url` a proof is also claimed in Redis (`SET … NX EX`), so a
//! replay to another instance is refused too. That is one Redis round trip
//! per DPoP request, and only for DPoP requests: bearer tokens (the plain
//! path) never reach this file. Redis is asked after the local memory (a
//! replay to the same instance costs nothing); when Redis does not answer
//! within `redis::TIMEOUT`, the proof is judged by this instance alone and
//! Redis is left alone for [`REDIS_BACKOFF`], so that an outage costs DPoP
//! requests one timeout, not one each.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use keygate_core::crypto::{Digest, sha256};

use crate::state::rate_limits::redis::{self, Conn, RedisConfig, Reply};

const REDIS_BACKOFF: Duration = Duration::from_secs(5);

/// At most this many proofs are remembered; past it, once the expired ones
/// are swept, a new proof is refused rather than a replay let through.
const CAPACITY: usize = 200_000;

#[derive(Default)]
pub struct SeenProofs {
    seen: Mutex<HashMap<Digest, i64>>,
    /// With `--redis-url`: the connection (one at a time; DPoP requests only).
    shared: Option<tokio::sync::Mutex<Shared>>,
}

struct Shared {
    cfg: RedisConfig,
    conn: Option<Conn>,
    /// After a failure, Redis is not asked before this.
    quiet_until: Option<Instant>,
}

impl SeenProofs {
    pub fn new(redis: Option<RedisConfig>) -> SeenProofs {
        SeenProofs {
            seen: Mutex::default(),
            shared: redis.map(|cfg| {
                tokio::sync::Mutex::new(Shared {
                    cfg,
                    conn: None,
                    quiet_until: None,
                })
            }),
        }
    }

    /// Whether this is the first use of the proof `jti` of the key `jkt` here
    /// and, with Redis, on every instance (see the module's notes).
    pub async fn first_use_everywhere(&self, jkt: &str, jti: &str, now: i64, until: i64) -> bool {
        let id = proof_id(jkt, jti);
        if !self.first_use_of(id, now, until) {
            return false;
        }
        let Some(shared) = &self.shared else {
            return true;
        };
        let mut shared = shared.lock().await;
        if shared.quiet_until.is_some_and(|t| Instant::now() < t) {
            return true;
        }
        let ttl = (until - now).max(1).to_string();
        let key = format!("keygate:dpop:{}", id.to_hex());
        let cmd = redis::cmd(&["SET", &key, "1", "NX", "EX", &ttl]);
        let answer = tokio::time::timeout(redis::TIMEOUT, async {
            if shared.conn.is_none() {
                shared.conn = Some(Conn::open(&shared.cfg).await?);
            }
            match &mut shared.conn {
                Some(c) => c.pipeline(std::slice::from_ref(&cmd)).await,
                None => Err(redis::bad("no connection")),
            }
        })
        .await;
        match answer {
            // `OK`: first here; a nil reply: another instance saw it.
            Ok(Ok(r)) => match r.first() {
                Some(Reply::Ok(_)) => true,
                Some(Reply::Bulk(None)) => false,
                other => {
                    tracing::warn!(reply = ?other, "Redis did not take a DPoP proof's jti; judged by this instance alone");
                    true
                }
            },
            _ => {
                shared.conn = None;
                shared.quiet_until = Some(Instant::now() + REDIS_BACKOFF);
                tracing::warn!(redis = %shared.cfg.address(), "Redis does not answer; DPoP replays are refused per instance for now");
                true
            }
        }
    }

    /// Whether this is the first use of the proof `jti` of the key `jkt` on
    /// this instance, at `now` (Unix seconds); remembers it until `until`.
    pub fn first_use(&self, jkt: &str, jti: &str, now: i64, until: i64) -> bool {
        self.first_use_of(proof_id(jkt, jti), now, until)
    }

    fn first_use_of(&self, id: Digest, now: i64, until: i64) -> bool {
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

fn proof_id(jkt: &str, jti: &str) -> Digest {
    sha256(format!("{jkt}\u{1f}{jti}").as_bytes())
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
