//! The in-memory credential cache: every key and account, so login and token
//! checks never touch the database.
//!
//! It is complete, not a read-through cache: loaded whole at start, and every
//! write refreshes the one key it changed. Refreshes re-read the row after the
//! commit under one lock, so concurrent writers cannot leave an older row in
//! the cache than the database holds.
//!
//! The maps are split into shards, each behind its own lock, so the two (or
//! more) worker threads rarely touch the same lock word on the hot path.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, RwLock};

use keygate_core::crypto::Digest;
use keygate_core::permission::KeyScope;
use keygate_core::token::Claims;
use keygate_core::{AccountId, ClientId, OrgId};
use keygate_store::{KeyCredential, Store, StoreError};

/// What the hot path needs of a key (its client id is the map's key). Keys of
/// one organization share its id,
/// and keys with the same scope share it.
#[derive(Debug)]
pub struct Credential {
    pub org_id: Arc<OrgId>,
    pub secret_hash: Digest,
    pub generation: u64,
    pub scope: Arc<KeyScope>,
}

impl From<KeyCredential> for Credential {
    fn from(k: KeyCredential) -> Credential {
        Credential {
            org_id: Arc::new(k.org_id),
            secret_hash: k.secret_hash,
            generation: k.generation,
            scope: k.scope,
        }
    }
}

/// FxHash-style: a multiply and a rotate per 8 bytes. Not keyed, which is fine
/// here: only the server inserts (keys written by admins, tokens it verified),
/// so nobody outside can pick colliding keys to slow the maps down.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        // Fold the high bits down: hashbrown takes its control bits from the top.
        self.0 ^ (self.0 >> 29)
    }
}

impl FastHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

const SHARDS: usize = 32;

/// A map in `SHARDS` pieces, each with its own read-write lock.
struct Sharded<K, V> {
    shards: Box<[RwLock<FastMap<K, V>>]>,
}

impl<K: Hash + Eq, V: Clone> Default for Sharded<K, V> {
    fn default() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
        }
    }
}

impl<K: Hash + Eq, V: Clone> Sharded<K, V> {
    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &RwLock<FastMap<K, V>> {
        let mut h = FastHasher::default();
        key.hash(&mut h);
        // The top bits: the map inside uses the low ones for its buckets.
        let i = (h.finish() >> 58) as usize % SHARDS;
        &self.shards[i]
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.shard(key).read().unwrap_or_else(|p| p.into_inner());
        map.get(key).cloned()
    }

    fn write<Q: Hash + ?Sized>(&self, key: &Q) -> std::sync::RwLockWriteGuard<'_, FastMap<K, V>> {
        self.shard(key).write().unwrap_or_else(|p| p.into_inner())
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

#[derive(Default)]
pub struct CredentialCache {
    keys: Sharded<ClientId, Arc<Credential>>,
    accounts: Sharded<AccountId, OrgId>,
    refresh: tokio::sync::Mutex<()>,
    tokens: TokenCache,
}

impl CredentialCache {
    /// Reads every key and account. Keys arrive one at a time and go straight
    /// into their shard, so a million keys never sit in memory twice.
    pub async fn load(store: &dyn Store) -> Result<CredentialCache, StoreError> {
        let cache = CredentialCache::default();
        let mut orgs: FastMap<OrgId, Arc<OrgId>> = FastMap::default();
        store
            .each_key_credential(&mut |k| {
                let org_id = match orgs.get(&k.org_id) {
                    Some(o) => o.clone(),
                    None => {
                        let o = Arc::new(k.org_id.clone());
                        orgs.insert(k.org_id.clone(), o.clone());
                        o
                    }
                };
                let client_id = k.client_id;
                let cred = Credential {
                    org_id,
                    secret_hash: k.secret_hash,
                    generation: k.generation,
                    scope: k.scope,
                };
                cache
                    .keys
                    .write(client_id.as_str())
                    .insert(client_id, Arc::new(cred));
            })
            .await?;
        for shard in cache.keys.shards.iter() {
            shard
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .shrink_to_fit();
        }
        for a in store.all_accounts().await? {
            cache
                .accounts
                .write(a.account_id.as_str())
                .insert(a.account_id, a.org_id);
        }
        Ok(cache)
    }

    /// Puts one key in place (micro-benchmarks and tests build a cache this way).
    pub fn insert_for_bench(&self, k: KeyCredential) {
        let client_id = k.client_id.clone();
        self.keys
            .write(client_id.as_str())
            .insert(client_id, Arc::new(Credential::from(k)));
    }

    /// How many keys are cached.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    pub fn key(&self, client_id: &str) -> Option<Arc<Credential>> {
        // Lookup by &str avoids building a ClientId on the hot path.
        self.keys.get(client_id)
    }

    /// Whether `account_id` belongs to `org_id`, without cloning either.
    pub fn account_in_org(&self, account_id: &AccountId, org_id: &OrgId) -> bool {
        let shard = self.accounts.shard(account_id.as_str());
        let map = shard.read().unwrap_or_else(|p| p.into_inner());
        map.get(account_id) == Some(org_id)
    }

    pub fn account_org(&self, account_id: &AccountId) -> Option<OrgId> {
        self.accounts.get(account_id.as_str())
    }

    pub fn add_account(&self, account_id: AccountId, org_id: OrgId) {
        self.accounts
            .write(account_id.as_str())
            .insert(account_id, org_id);
    }

    /// Re-reads one key after a change and puts the database's version in place.
    pub async fn refresh(&self, store: &dyn Store, client_id: &ClientId) -> Result<(), StoreError> {
        let _one_at_a_time = self.refresh.lock().await;
        let fresh = store.key_by_client_id(client_id).await?;
        let mut map = self.keys.write(client_id.as_str());
        match fresh {
            Some(k) => map.insert(
                client_id.clone(),
                Arc::new(Credential::from(KeyCredential::from(&k))),
            ),
            None => map.remove(client_id.as_str()),
        };
        Ok(())
    }

    /// Drops a key (fail closed when it cannot be re-read).
    pub fn forget(&self, client_id: &ClientId) {
        self.keys
            .write(client_id.as_str())
            .remove(client_id.as_str());
    }

    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }
}

/// Tokens whose signature was already verified, keyed by the SHA-256 of the
/// whole token (so a token with the same signature but another payload misses).
/// Bounded: when a shard is full it starts over. Expiry and revocation are
/// still checked on every use; the cache only saves the signature verification.
#[derive(Default)]
pub struct TokenCache {
    map: Sharded<Digest, Arc<Claims>>,
}

const TOKEN_CACHE_CAPACITY: usize = 100_000;

impl TokenCache {
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
