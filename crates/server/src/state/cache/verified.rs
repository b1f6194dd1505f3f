//! Tokens whose signature was already verified: `VerifiedTokens`, a bounded
//! map beside the cache's keys.

use std::sync::Arc;

use keygate_core::crypto::Digest;
use keygate_core::token::Claims;

use super::sharded::{SHARDS, Sharded};

/// Tokens whose signature was already verified, keyed by the SHA-256 of the
/// whole token (so a token with the same signature but another payload misses).
/// Bounded: when a shard is full it starts over. Expiry and revocation are
/// still checked on every use; the cache only saves the signature verification.
#[derive(Default)]
pub struct VerifiedTokens {
    map: Sharded<Digest, Arc<Claims>>,
}

const TOKEN_CACHE_CAPACITY: usize = 100_000;

impl VerifiedTokens {
    pub fn get(&self, digest: &Digest) -> Option<Arc<Claims>> {
        self.map.get(digest)
    }

    pub fn insert(&self, digest: Digest, claims: Arc<Claims>) {
        let mut map = self.map.write(&digest);
        if map.len() >= TOKEN_CACHE_CAPACITY / SHARDS {
            map.clear();
        }
        map.insert(digest, claims);
    }
}
