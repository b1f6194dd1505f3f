//! Tokens whose signature was already verified: `VerifiedTokens`, a bounded
//! map beside the cache's keys, of `VerifiedClaims`.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::HeaderValue;
use keygate_core::crypto::Digest;
use keygate_core::token::Claims;

use super::sharded::{SHARDS, Sharded};

/// A token's claims, its signature verified, and who it speaks for as the
/// values of the `x-keygate-*` headers an allowed check answers with
/// (`gateway::check::identity_headers`).
#[derive(Debug)]
pub struct VerifiedClaims {
    claims: Claims,
    pub headers: IdentityValues,
}

/// The values of a token's identity headers, made once per token: copying
/// them from the claims was three allocations per check. A clone of one
/// shares its bytes.
#[derive(Debug)]
pub struct IdentityValues {
    pub client_id: Option<HeaderValue>,
    pub org_id: Option<HeaderValue>,
    pub account_id: Option<HeaderValue>,
    /// The thumbprint of a DPoP-bound token's key.
    pub dpop_jkt: Option<HeaderValue>,
}

impl VerifiedClaims {
    /// `claims` of a token whose signature was just verified.
    pub fn new(claims: Claims) -> VerifiedClaims {
        // Ids are base62 and thumbprints base64url: always a valid value.
        let value = |v: &str| HeaderValue::from_str(v).ok();
        VerifiedClaims {
            headers: IdentityValues {
                client_id: value(claims.sub.as_str()),
                org_id: value(claims.org_id.as_str()),
                account_id: claims.account_id.as_ref().and_then(|a| value(a.as_str())),
                dpop_jkt: claims.cnf.as_ref().and_then(|c| value(&c.jkt)),
            },
            claims,
        }
    }
}

impl Deref for VerifiedClaims {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.claims
    }
}

/// Tokens whose signature was already verified, keyed by the SHA-256 of the
/// whole token (so a token with the same signature but another payload misses).
/// Bounded: when a shard is full it starts over. Expiry and revocation are
/// still checked on every use; the cache only saves the signature verification.
///
/// A token is kept from its second verification on: the first one only
/// leaves its fingerprint in a fixed table (`seen`, 512 KiB, no allocation).
/// A token used once, the common case of short-lived callers and of a flood
/// of fresh tokens, so costs no memory at all, and the map holds the tokens
/// that are reused, which are the ones it saves work for. A fingerprint lost
/// to a colliding token costs one more verification, never a wrong answer:
/// only verified claims are ever kept.
pub struct VerifiedTokens {
    map: Sharded<Digest, Arc<VerifiedClaims>>,
    seen: Box<[AtomicU64]>,
}

const TOKEN_CACHE_CAPACITY: usize = 100_000;
/// Slots of the fingerprint table (a power of two).
const SEEN_SLOTS: usize = 1 << 16;

impl Default for VerifiedTokens {
    fn default() -> Self {
        VerifiedTokens {
            map: Sharded::default(),
            seen: (0..SEEN_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl VerifiedTokens {
    pub fn get(&self, digest: &Digest) -> Option<Arc<VerifiedClaims>> {
        self.map.get(digest)
    }

    /// Keeps `claims` (just verified) if this token was verified before.
    pub fn verified(&self, digest: Digest, claims: &Arc<VerifiedClaims>) {
        let d = &digest.0;
        // Two slots per token, its fingerprint written to both. With one,
        // two tokens of the same slot (about one pair among 300 tokens in
        // use) pushed each other out at every use and were verified every
        // time; now that takes both of their slots to be shared.
        let first = u16::from_le_bytes([d[16], d[17]]) as usize % SEEN_SLOTS;
        let second = u16::from_le_bytes([d[18], d[19]]) as usize % SEEN_SLOTS;
        let fingerprint =
            u64::from_le_bytes([d[24], d[25], d[26], d[27], d[28], d[29], d[30], d[31]]);
        let was = self.seen[first].swap(fingerprint, Ordering::Relaxed);
        // A token whose two slots are one would otherwise find there what it
        // has just written, and be kept at its first verification.
        let was_second = if second == first {
            was
        } else {
            self.seen[second].swap(fingerprint, Ordering::Relaxed)
        };
        if was != fingerprint && was_second != fingerprint {
            return;
        }
        let mut map = self.map.write(&digest);
        if map.len() >= TOKEN_CACHE_CAPACITY / SHARDS {
            map.clear();
        }
        map.insert(digest, claims.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_core::crypto::sha256;
    use keygate_core::token::ISSUER;
    use keygate_core::{ClientId, OrgId};

    fn claims() -> Arc<VerifiedClaims> {
        Arc::new(VerifiedClaims::new(Claims {
            iss: ISSUER.into(),
            sub: ClientId::generate(),
            org_id: OrgId::generate(),
            account_id: None,
            r#gen: 1,
            scope: String::new(),
            iat: 0,
            exp: 1,
            jti: String::new(),
            narrowed: false,
            cnf: None,
        }))
    }

    #[test]
    fn a_token_is_kept_from_its_second_verification_on() {
        let tokens = VerifiedTokens::default();
        let c = claims();
        let once = sha256(b"a token used once");
        let twice = sha256(b"a token used twice");
        tokens.verified(once, &c);
        tokens.verified(twice, &c);
        assert!(tokens.get(&once).is_none());
        assert!(tokens.get(&twice).is_none());
        tokens.verified(twice, &c);
        assert!(tokens.get(&once).is_none());
        assert!(Arc::ptr_eq(&tokens.get(&twice).unwrap(), &c));
    }

    /// Two tokens whose fingerprints share a slot, used in turn, are kept
    /// from their second use on all the same.
    #[test]
    fn tokens_that_share_a_slot_are_kept_all_the_same() {
        let tokens = VerifiedTokens::default();
        let c = claims();
        let digest = |other_slot: u8, fingerprint: u8| {
            let mut d = [0u8; 32];
            d[16] = 7;
            d[18] = other_slot;
            d[24] = fingerprint;
            Digest(d)
        };
        let (a, b) = (digest(1, 1), digest(2, 2));
        for _ in 0..2 {
            tokens.verified(a, &c);
            tokens.verified(b, &c);
        }
        assert!(tokens.get(&a).is_some());
        assert!(tokens.get(&b).is_some());
        // Both slots one: kept from the second verification, not the first.
        let same = digest(7, 3);
        tokens.verified(same, &c);
        assert!(tokens.get(&same).is_none());
        tokens.verified(same, &c);
        assert!(tokens.get(&same).is_some());
    }

    #[test]
    fn a_flood_of_single_use_tokens_keeps_nothing() {
        let tokens = VerifiedTokens::default();
        let c = claims();
        for i in 0..200_000u32 {
            tokens.verified(sha256(&i.to_le_bytes()), &c);
        }
        let kept = (0..200_000u32)
            .filter(|i| tokens.get(&sha256(&i.to_le_bytes())).is_some())
            .count();
        assert_eq!(kept, 0);
    }
}
