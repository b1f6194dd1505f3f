//! The in-memory credential cache: every key and account, so login and token
//! checks never touch the database.
//!
//! It is complete, not a read-through cache: loaded whole at start, and every
//! write refreshes the one key it changed. Refreshes re-read the row after the
//! commit under one lock, so concurrent writers cannot leave an older row in
//! the cache than the database holds.
//!
//! With several instances on one PostgreSQL database, other instances' writes
//! arrive as change notices (see `sync.rs`), a lost notice connection leads to
//! a full [`CredentialCache::reload`], and the cache has a bounded lifetime:
//! when it could not be re-read for too long, the hot path answers 503 rather
//! than trust it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use keygate_core::crypto::Digest;
use keygate_core::permission::KeyScope;
use keygate_core::token::Claims;
use keygate_core::{AccountId, ClientId, OrgId};
use keygate_store::{KeyRecord, Store, StoreError};

/// What the hot path needs of a key.
#[derive(Debug)]
pub struct Credential {
    pub client_id: ClientId,
    pub org_id: OrgId,
    pub secret_hash: Digest,
    pub generation: u64,
    pub scope: KeyScope,
}

impl From<&KeyRecord> for Credential {
    fn from(k: &KeyRecord) -> Credential {
        Credential {
            client_id: k.client_id.clone(),
            org_id: k.org_id.clone(),
            secret_hash: k.secret_hash,
            generation: k.generation,
            scope: k.scope.clone(),
        }
    }
}

#[derive(Default)]
pub struct CredentialCache {
    keys: RwLock<HashMap<ClientId, Arc<Credential>>>,
    accounts: RwLock<HashMap<AccountId, OrgId>>,
    refresh: tokio::sync::Mutex<()>,
    tokens: TokenCache,
    valid_until: ValidUntil,
    shared: std::sync::atomic::AtomicBool,
    rereads: std::sync::Mutex<HashMap<String, std::time::Instant>>,
}

/// Unix ms after which the cache must not be trusted; never, by default.
struct ValidUntil(AtomicI64);

impl Default for ValidUntil {
    fn default() -> ValidUntil {
        ValidUntil(AtomicI64::new(i64::MAX))
    }
}

type Contents = (
    HashMap<ClientId, Arc<Credential>>,
    HashMap<AccountId, OrgId>,
);

async fn read_all(store: &dyn Store) -> Result<Contents, StoreError> {
    let keys = store
        .all_keys()
        .await?
        .iter()
        .map(|k| (k.client_id.clone(), Arc::new(Credential::from(k))))
        .collect();
    let accounts = store
        .all_accounts()
        .await?
        .into_iter()
        .map(|a| (a.account_id, a.org_id))
        .collect();
    Ok((keys, accounts))
}

impl CredentialCache {
    pub async fn load(store: &dyn Store) -> Result<CredentialCache, StoreError> {
        let (keys, accounts) = read_all(store).await?;
        Ok(CredentialCache {
            keys: RwLock::new(keys),
            accounts: RwLock::new(accounts),
            ..CredentialCache::default()
        })
    }

    /// Re-reads every key and account and swaps them in at once. Holds the
    /// refresh lock, so a single-key refresh cannot be overwritten by the older
    /// rows of a reload that started before it.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), StoreError> {
        let _one_at_a_time = self.refresh.lock().await;
        let (keys, accounts) = read_all(store).await?;
        *write(&self.keys) = keys;
        *write(&self.accounts) = accounts;
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

    pub fn key(&self, client_id: &str) -> Option<Arc<Credential>> {
        let map = self.keys.read().unwrap_or_else(|p| p.into_inner());
        // Lookup by &str avoids building a ClientId on the hot path.
        map.get(client_id).cloned()
    }

    pub fn account_org(&self, account_id: &AccountId) -> Option<OrgId> {
        let map = self.accounts.read().unwrap_or_else(|p| p.into_inner());
        map.get(account_id).cloned()
    }

    pub fn add_account(&self, account_id: AccountId, org_id: OrgId) {
        write(&self.accounts).insert(account_id, org_id);
    }

    /// Re-reads one key after a change and puts the database's version in place.
    pub async fn refresh(&self, store: &dyn Store, client_id: &ClientId) -> Result<(), StoreError> {
        let _one_at_a_time = self.refresh.lock().await;
        let fresh = store.key_by_client_id(client_id).await?;
        let mut map = write(&self.keys);
        match fresh {
            Some(k) => map.insert(client_id.clone(), Arc::new(Credential::from(&k))),
            None => map.remove(client_id.as_str()),
        };
        Ok(())
    }

    /// Drops a key (fail closed when it cannot be re-read).
    pub fn forget(&self, client_id: &ClientId) {
        write(&self.keys).remove(client_id.as_str());
    }

    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// Tokens whose signature was already verified, keyed by the SHA-256 of the
/// whole token (so a token with the same signature but another payload misses).
/// Bounded: when full it starts over. Expiry and revocation are still checked
/// on every use; the cache only saves the signature verification.
#[derive(Default)]
pub struct TokenCache {
    map: RwLock<HashMap<Digest, Arc<Claims>>>,
}

const TOKEN_CACHE_CAPACITY: usize = 100_000;

impl TokenCache {
    pub fn get(&self, digest: &Digest) -> Option<Arc<Claims>> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
            .cloned()
    }

    pub fn insert(&self, digest: Digest, claims: Arc<Claims>) {
        let mut map = write(&self.map);
        if map.len() >= TOKEN_CACHE_CAPACITY {
            map.clear();
        }
        map.insert(digest, claims);
    }
}
