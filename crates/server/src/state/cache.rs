//! The in-memory credential cache: every key and account, so login and token
//! checks never touch the database.
//!
//! It is complete, not a read-through cache: loaded whole at start, and every
//! write refreshes the one key it changed. Refreshes re-read the row after the
//! commit under one lock, so concurrent writers cannot leave an older row in
//! the cache than the database holds.
//!
//! With several instances on one PostgreSQL database, other instances' writes
//! arrive as change notices (see `tasks/sync.rs`), a lost notice connection leads to
//! a full [`CredentialCache::reload`], and the cache has a bounded lifetime:
//! when it could not be re-read for too long, the hot path answers 503 rather
//! than trust it. The feed's heartbeat also proves, request by request, that
//! no notice is waiting unread (see `cache/freshness.rs`).
//!
//! The maps are split into shards, each behind its own lock, so the two (or
//! more) worker threads rarely touch the same lock word on the hot path.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use keygate_core::Networks;
use keygate_core::credits::Credits;
use keygate_core::crypto::Digest;
use keygate_core::permission::KeyScope;
use keygate_core::quota::Plan;
use keygate_core::token::Claims;
use keygate_core::{AccountId, ClientId, OrgId, RateLimit};
use keygate_store::{KeyCredential, PreviousSecret, Store, StoreError};

mod freshness;
pub use freshness::Freshness;

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
    /// ([`CredentialCache::limit_of`]).
    pub rate_limit: Option<RateLimit>,
    /// Unix ms after which the key is dead (`i64::MAX`: never).
    pub expires_at: i64,
    /// The secret the last regenerate replaced, while its grace lasts; its
    /// tokens carry `generation - 1`.
    pub previous: Option<PreviousSecret>,
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
            match self.previous {
                Some(p) if generation.checked_add(1) == Some(self.generation) => {
                    p.expires_at.min(self.expires_at)
                }
                _ => return None,
            }
        };
        (now_ms < until).then_some(until)
    }
}

impl From<KeyCredential> for Credential {
    fn from(k: KeyCredential) -> Credential {
        Credential {
            org_id: Arc::new(k.org_id),
            secret_hash: k.secret_hash,
            generation: k.generation,
            scope: k.scope,
            rate_limit: k.rate_limit,
            expires_at: k.expires_at.unwrap_or(i64::MAX),
            previous: k.previous_secret,
            allowed_networks: k.allowed_networks,
            require_dpop: k.require_dpop,
            credits: k.credits,
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

    /// Puts `fresh`'s contents in place of this map's, one shard at a time.
    fn replace_with(&self, fresh: Sharded<K, V>) {
        for (mine, theirs) in self.shards.iter().zip(fresh.shards.into_vec()) {
            *mine.write().unwrap_or_else(|p| p.into_inner()) =
                theirs.into_inner().unwrap_or_else(|p| p.into_inner());
        }
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
    /// Organizations' default rate limits (only those that have one).
    org_limits: Sharded<OrgId, RateLimit>,
    /// Organizations' plans (only those on one; `plan_count` of them).
    org_plans: Sharded<OrgId, Arc<Plan>>,
    plan_count: std::sync::atomic::AtomicUsize,
    /// Suspended organizations (`suspended_count` of them): their keys log
    /// in and check tokens to 403 `org_suspended`.
    suspended: Sharded<OrgId, ()>,
    suspended_count: std::sync::atomic::AtomicUsize,
    refresh: tokio::sync::Mutex<()>,
    verified: VerifiedTokens,
    valid_until: ValidUntil,
    feed: Freshness,
    shared: std::sync::atomic::AtomicBool,
    rereads: std::sync::Mutex<HashMap<String, std::time::Instant>>,
    /// Unix ms of the last full read (the metrics' cache age).
    loaded_at: AtomicI64,
}

/// Unix ms after which the cache must not be trusted; never, by default.
struct ValidUntil(AtomicI64);

impl Default for ValidUntil {
    fn default() -> ValidUntil {
        ValidUntil(AtomicI64::new(i64::MAX))
    }
}

/// A freshly read copy of every key and account, not yet in use.
struct Contents {
    keys: Sharded<ClientId, Arc<Credential>>,
    accounts: Sharded<AccountId, OrgId>,
    org_limits: Sharded<OrgId, RateLimit>,
    org_plans: Sharded<OrgId, Arc<Plan>>,
    plan_count: usize,
    suspended: Sharded<OrgId, ()>,
    suspended_count: usize,
}

/// Reads every key and account. Keys arrive one at a time and go straight
/// into their shard, so a million keys never sit in memory twice; keys of one
/// organization share one `Arc<OrgId>`.
async fn read_all(store: &dyn Store) -> Result<Contents, StoreError> {
    let keys: Sharded<ClientId, Arc<Credential>> = Sharded::default();
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
                rate_limit: k.rate_limit,
                expires_at: k.expires_at.unwrap_or(i64::MAX),
                previous: k.previous_secret,
                allowed_networks: k.allowed_networks,
                require_dpop: k.require_dpop,
                credits: k.credits,
            };
            keys.write(client_id.as_str())
                .insert(client_id, Arc::new(cred));
        })
        .await?;
    for shard in keys.shards.iter() {
        shard
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .shrink_to_fit();
    }
    let accounts: Sharded<AccountId, OrgId> = Sharded::default();
    for a in store.all_accounts().await? {
        accounts
            .write(a.account_id.as_str())
            .insert(a.account_id, a.org_id);
    }
    let org_limits: Sharded<OrgId, RateLimit> = Sharded::default();
    for (org_id, limit) in store.org_rate_limits().await? {
        org_limits.write(org_id.as_str()).insert(org_id, limit);
    }
    let org_plans: Sharded<OrgId, Arc<Plan>> = Sharded::default();
    let mut plan_count = 0;
    for (org_id, p) in store.org_plans().await? {
        org_plans
            .write(org_id.as_str())
            .insert(org_id, Arc::new(p.plan));
        plan_count += 1;
    }
    let suspended: Sharded<OrgId, ()> = Sharded::default();
    let mut suspended_count = 0;
    for org_id in store.suspended_orgs().await? {
        suspended.write(org_id.as_str()).insert(org_id, ());
        suspended_count += 1;
    }
    Ok(Contents {
        keys,
        accounts,
        org_limits,
        org_plans,
        plan_count,
        suspended,
        suspended_count,
    })
}

impl CredentialCache {
    /// Reads every key and account (see [`read_all`]).
    pub async fn load(store: &dyn Store) -> Result<CredentialCache, StoreError> {
        let Contents {
            keys,
            accounts,
            org_limits,
            org_plans,
            plan_count,
            suspended,
            suspended_count,
        } = read_all(store).await?;
        Ok(CredentialCache {
            keys,
            accounts,
            org_limits,
            org_plans,
            plan_count: plan_count.into(),
            suspended,
            suspended_count: suspended_count.into(),
            loaded_at: AtomicI64::new(crate::state::clock::now_ms()),
            ..CredentialCache::default()
        })
    }

    /// Re-reads every key and account and swaps them in, shard by shard (a
    /// key lives in one shard, so a lookup sees either its old or its new row,
    /// and keys deleted meanwhile are gone afterwards). Holds the refresh lock,
    /// so a single-key refresh cannot be overwritten by the older rows of a
    /// reload that started before it. The new maps are built beside the old
    /// ones, so a reload briefly holds the keys twice.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), StoreError> {
        let _one_at_a_time = self.refresh.lock().await;
        let fresh = read_all(store).await?;
        self.keys.replace_with(fresh.keys);
        self.accounts.replace_with(fresh.accounts);
        self.org_limits.replace_with(fresh.org_limits);
        self.org_plans.replace_with(fresh.org_plans);
        self.plan_count.store(fresh.plan_count, Ordering::Relaxed);
        self.suspended.replace_with(fresh.suspended);
        self.suspended_count
            .store(fresh.suspended_count, Ordering::Relaxed);
        self.loaded_at
            .store(crate::state::clock::now_ms(), Ordering::Relaxed);
        Ok(())
    }

    /// Marks this cache as one of several over a shared database, where a
    /// miss may be a key that another instance created a moment ago.
    pub fn set_shared(&self) {
        self.shared.store(true, Ordering::Relaxed);
    }

    pub fn is_shared(&self) -> bool {
        self.shared.load(Ordering::Relaxed)
    }

    /// Whether a miss on `client_id` may be read through to the database now:
    /// at most once a second per client id, so a token of a deleted key cannot
    /// turn every request into a database read.
    pub fn may_reread(&self, client_id: &str) -> bool {
        const EVERY: std::time::Duration = std::time::Duration::from_secs(1);
        let mut map = self.rereads.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= 10_000 {
            map.retain(|_, at| at.elapsed() < EVERY);
        }
        match map.get(client_id) {
            Some(at) if at.elapsed() < EVERY => false,
            _ => {
                map.insert(client_id.to_owned(), std::time::Instant::now());
                true
            }
        }
    }

    /// Trust the cache until `until_ms` (Unix ms) unless told again.
    pub fn valid_until(&self, until_ms: i64) {
        self.valid_until.0.store(until_ms, Ordering::Relaxed);
    }

    /// False once the cache has gone unconfirmed for longer than allowed.
    pub fn is_valid(&self, now_ms: i64) -> bool {
        now_ms < self.valid_until.0.load(Ordering::Relaxed)
    }

    /// How current the cache is with the change feed (see [`Freshness`]).
    pub fn feed(&self) -> &Freshness {
        &self.feed
    }

    /// Puts one key's current credential in place, replacing what was there.
    pub fn put(&self, k: KeyCredential) {
        let client_id = k.client_id.clone();
        self.keys
            .write(client_id.as_str())
            .insert(client_id, Arc::new(Credential::from(k)));
    }

    /// Unix ms of the last time every key was read from the database.
    pub fn loaded_at(&self) -> i64 {
        self.loaded_at.load(Ordering::Relaxed)
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
        match store.key_by_client_id(client_id).await? {
            Some(k) => self.put(KeyCredential::from(&k)),
            None => self.forget(client_id),
        }
        Ok(())
    }

    /// The rate limit that applies to a key: its own, else its organization's
    /// default, else none. Memory only.
    pub fn limit_of(&self, cred: &Credential) -> Option<RateLimit> {
        cred.rate_limit
            .or_else(|| self.org_limits.get(cred.org_id.as_str()))
            .or_else(|| self.plan_of(&cred.org_id).and_then(|p| p.rate_limit))
    }

    /// The organization's plan, if it is on one. Memory only, and while no
    /// organization is on a plan, one atomic load.
    #[inline]
    pub fn plan_of(&self, org_id: &OrgId) -> Option<Arc<Plan>> {
        if self.plan_count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.org_plans.get(org_id.as_str())
    }

    /// Every organization on a plan that has quotas, with its plan.
    pub fn orgs_with_quotas(&self) -> Vec<(OrgId, Arc<Plan>)> {
        let mut out = Vec::new();
        for shard in self.org_plans.shards.iter() {
            let map = shard.read().unwrap_or_else(|p| p.into_inner());
            out.extend(
                map.iter()
                    .filter(|(_, p)| !p.quotas.is_empty())
                    .map(|(o, p)| (o.clone(), p.clone())),
            );
        }
        out
    }

    /// Whether the organization is suspended. Memory only, and while no
    /// organization is suspended, one atomic load.
    #[inline]
    pub fn is_suspended(&self, org_id: &OrgId) -> bool {
        self.suspended_count.load(Ordering::Relaxed) != 0
            && self.suspended.get(org_id.as_str()).is_some()
    }

    /// Re-reads an organization's default rate limit and suspension after a
    /// change.
    pub async fn refresh_org(&self, store: &dyn Store, org_id: &OrgId) -> Result<(), StoreError> {
        let _one_at_a_time = self.refresh.lock().await;
        let suspended = store
            .org_profile(org_id)
            .await?
            .is_some_and(|o| o.suspended.is_some());
        {
            let mut map = self.suspended.write(org_id.as_str());
            let was = if suspended {
                map.insert(org_id.clone(), ()).is_some()
            } else {
                map.remove(org_id.as_str()).is_some()
            };
            match (was, suspended) {
                (false, true) => self.suspended_count.fetch_add(1, Ordering::Relaxed),
                (true, false) => self.suspended_count.fetch_sub(1, Ordering::Relaxed),
                _ => 0,
            };
        }
        let plan = store.org_plan(org_id).await?;
        {
            let mut map = self.org_plans.write(org_id.as_str());
            let was = match plan {
                Some(p) => map.insert(org_id.clone(), Arc::new(p.plan)).is_some(),
                None => map.remove(org_id.as_str()).is_some(),
            };
            match (was, map.contains_key(org_id.as_str())) {
                (false, true) => self.plan_count.fetch_add(1, Ordering::Relaxed),
                (true, false) => self.plan_count.fetch_sub(1, Ordering::Relaxed),
                _ => 0,
            };
        }
        let limit = match store.org_rate_limit(org_id).await {
            Ok(l) => l,
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        let mut map = self.org_limits.write(org_id.as_str());
        match limit {
            Some(l) => map.insert(org_id.clone(), l),
            None => map.remove(org_id.as_str()),
        };
        Ok(())
    }

    /// Drops a key (fail closed when it cannot be re-read).
    pub fn forget(&self, client_id: &ClientId) {
        self.keys
            .write(client_id.as_str())
            .remove(client_id.as_str());
    }

    /// Tokens whose signature was already verified.
    pub fn verified_tokens(&self) -> &VerifiedTokens {
        &self.verified
    }
}

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
