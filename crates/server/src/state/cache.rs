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
//!
//! This file holds the cache and what it answers from memory; its parts:
//! `credential.rs`, the `Credential` of one key; `sharded.rs`, the sharded
//! maps and their hasher; `refresh.rs`, every read from the database (load,
//! reload, one key, one organization); `verified.rs`, the tokens whose
//! signature was already verified; `freshness.rs`, the change feed's clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use keygate_core::quota::Plan;
use keygate_core::{AccountId, ClientId, OrgId, RateLimit};
use keygate_store::KeyCredential;

mod credential;
mod freshness;
mod refresh;
mod sharded;
mod verified;

pub use credential::Credential;
pub use freshness::Freshness;
pub use sharded::{FastHasher, shard_index};
pub use verified::{VerifiedClaims, VerifiedTokens};

use sharded::Sharded;

#[derive(Default)]
pub struct CredentialCache {
    /// By client id, as a `Box<str>`: 16 bytes in the map's slot where a
    /// `ClientId` (a `String`) took 24, for each of a million keys.
    keys: Sharded<Box<str>, Arc<Credential>>,
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

impl CredentialCache {
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
        let (client_id, cred) = Credential::of(k, Arc::new);
        let client_id = String::from(client_id).into_boxed_str();
        self.keys
            .write(&*client_id)
            .insert(client_id, Arc::new(cred));
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
