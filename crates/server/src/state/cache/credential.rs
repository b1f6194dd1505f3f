//! What the hot path needs of one key: its `Credential`, as the cache holds it.

use std::sync::Arc;

use keygate_core::Networks;
use keygate_core::credits::Credits;
use keygate_core::crypto::Digest;
use keygate_core::permission::KeyScope;
use keygate_core::{ClientId, OrgId, RateLimit};
use keygate_store::{KeyCredential, PreviousSecret};

/// What the hot path needs of a key (its client id is the map's key). Keys of
/// one organization share its id,
/// and keys with the same scope share it.
#[derive(Debug)]
pub struct Credential {
    pub org_id: Arc<OrgId>,
    pub secret_hash: Digest,
    pub generation: u64,
    pub scope: Arc<KeyScope>,
    /// The key's own rate limit; `None` takes the organization's default
    /// ([`CredentialCache::limit_of`](super::CredentialCache::limit_of)).
    pub rate_limit: Option<RateLimit>,
    /// Unix ms after which the key is dead (`i64::MAX`: never).
    pub expires_at: i64,
    /// The secret the last regenerate replaced, while its grace lasts; its
    /// tokens carry `generation - 1`. Boxed: few keys are in a grace period,
    /// and inline it took 40 bytes of every key (a million keys: 40 MB).
    pub previous: Option<Box<PreviousSecret>>,
    /// Where the key and its tokens may be used from; `None`: anywhere.
    pub allowed_networks: Option<Arc<Networks>>,
    /// Login and `/oauth/token` issue only DPoP-bound tokens for this key.
    pub require_dpop: bool,
    /// The key's credits as last read (each instance counts their use in
    /// `state::credits`); `None`: it has none.
    pub credits: Option<Arc<Credits>>,
}

impl Credential {
    /// Whether the key is alive at `now_ms` (not expired).
    #[inline]
    pub fn alive(&self, now_ms: i64) -> bool {
        now_ms < self.expires_at
    }

    /// Until when (Unix ms) a token of generation `generation` is good at
    /// `now_ms`, or `None` if it is not: the current generation until the
    /// key's expiry, the previous one until the end of its grace (never later
    /// than the key's expiry).
    #[inline]
    pub fn generation_good_until(&self, generation: u64, now_ms: i64) -> Option<i64> {
        let until = if generation == self.generation {
            self.expires_at
        } else {
            match self.previous.as_deref() {
                Some(p) if generation.checked_add(1) == Some(self.generation) => {
                    p.expires_at.min(self.expires_at)
                }
                _ => return None,
            }
        };
        (now_ms < until).then_some(until)
    }
}

impl Credential {
    /// A key's row as the cache holds it, and its client id (the map's key).
    /// `org_id` makes the organization's id, which a load shares among the
    /// organization's keys.
    pub fn of(
        k: KeyCredential,
        org_id: impl FnOnce(OrgId) -> Arc<OrgId>,
    ) -> (ClientId, Credential) {
        let cred = Credential {
            org_id: org_id(k.org_id),
            secret_hash: k.secret_hash,
            generation: k.generation,
            scope: k.scope,
            rate_limit: k.rate_limit,
            expires_at: k.expires_at.unwrap_or(i64::MAX),
            previous: k.previous_secret.map(Box::new),
            allowed_networks: k.allowed_networks,
            require_dpop: k.require_dpop,
            credits: k.credits,
        };
        (k.client_id, cred)
    }
}

#[cfg(test)]
mod tests {
    /// Every key is held in memory as one of these (a million keys: a
    /// million of them), so its size is watched: 104 bytes on 64-bit
    /// targets, plus 16 for the `Arc` (see BENCHMARKS.md, a million keys).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_credential_stays_small() {
        assert!(
            std::mem::size_of::<super::Credential>() <= 104,
            "Credential is {} bytes",
            std::mem::size_of::<super::Credential>()
        );
    }
}
