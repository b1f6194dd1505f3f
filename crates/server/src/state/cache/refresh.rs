//! Reading the cache from the database: the whole of it at start
//! ([`CredentialCache::load`]) and again when `tasks/sync.rs` asks
//! ([`CredentialCache::reload`]), one key ([`CredentialCache::refresh`]) or one
//! organization ([`CredentialCache::refresh_org`]) after a change. The reads
//! into a cache in use hold its refresh lock, so an older read never lands
//! over a newer one.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use keygate_core::quota::Plan;
use keygate_core::{AccountId, ClientId, OrgId, RateLimit};
use keygate_store::{KeyCredential, Store, StoreError};

use super::CredentialCache;
use super::credential::Credential;
use super::sharded::{FastMap, Sharded};

/// A freshly read copy of every key and account, not yet in use.
struct Contents {
    keys: Sharded<Box<str>, Arc<Credential>>,
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
    let keys: Sharded<Box<str>, Arc<Credential>> = Sharded::default();
    let mut orgs: FastMap<OrgId, Arc<OrgId>> = FastMap::default();
    store
        .each_key_credential(&mut |k| {
            let (client_id, cred) = Credential::of(k, |org_id| match orgs.get(&org_id) {
                Some(o) => o.clone(),
                None => {
                    let o = Arc::new(org_id.clone());
                    orgs.insert(org_id, o.clone());
                    o
                }
            });
            // Exactly as long as the id, so no copy (see `CredentialCache::keys`).
            let client_id = String::from(client_id).into_boxed_str();
            keys.write(&*client_id).insert(client_id, Arc::new(cred));
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

    /// Re-reads one key after a change and puts the database's version in place.
    pub async fn refresh(&self, store: &dyn Store, client_id: &ClientId) -> Result<(), StoreError> {
        let _one_at_a_time = self.refresh.lock().await;
        match store.key_by_client_id(client_id).await? {
            Some(k) => self.put(KeyCredential::from(&k)),
            None => self.forget(client_id),
        }
        Ok(())
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
}
