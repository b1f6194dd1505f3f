//! The in-memory credential cache: every key and account, so login and token
//! checks never touch the database.
//!
//! It is complete, not a read-through cache: loaded whole at start, and every
//! write refreshes the one key it changed. Refreshes re-read the row after the
//! commit under one lock, so concurrent writers cannot leave an older row in
//! the cache than the database holds.

use std::collections::HashMap;
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
}

impl CredentialCache {
    pub async fn load(store: &dyn Store) -> Result<CredentialCache, StoreError> {
        let cache = CredentialCache::default();
        {
            let keys = store.all_keys().await?;
            let mut map = write(&cache.keys);
            map.reserve(keys.len());
            for k in &keys {
                map.insert(k.client_id.clone(), Arc::new(Credential::from(k)));
            }
        }
        {
            let accounts = store.all_accounts().await?;
            let mut map = write(&cache.accounts);
            for a in accounts {
                map.insert(a.account_id, a.org_id);
            }
        }
        Ok(cache)
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
