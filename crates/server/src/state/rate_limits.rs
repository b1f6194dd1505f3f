//! Per-key rate limits: at most N allowed token checks per window of S
//! seconds, counted in memory on the hot path.
//!
//! **Algorithm: fixed windows aligned to the Unix epoch** (a window of S
//! seconds starts at every multiple of S). Within one window one instance
//! allows exactly N; a client may spend N at the end of one window and N more
//! at the start of the next. Epoch-aligned windows are the same on every
//! instance, which is what lets Redis add up their counts (one Redis counter
//! per key and window, see `redis.rs`).
//!
//! **Memory**: one 24-byte slot per key that has a limit and was used in its
//! current window, in a map keyed by a 64-bit keyed SipHash of the client id
//! (two client ids sharing a counter needs a 64-bit collision: about 3 in 10⁸
//! for a million active keys). Slots of windows that are over are swept every
//! minute. A million active keys take about 52 MB (BENCHMARKS.md).
//!
//! **Several instances** (`--redis-url`): each instance still decides alone,
//! from memory, and a background task settles with Redis every
//! [`SETTLE_EVERY`]: it adds this instance's new counts to the key's Redis
//! counter for the window and reads back the total, so each instance learns
//! what the others allowed. Between two settles an instance allows at most its
//! share of what remained at the last one (remaining ÷ live instances), so the
//! instances together stay within a few requests of N. When Redis is slow or
//! down, each instance enforces N by itself (per-instance limits) until it
//! answers again; nothing on the request path ever waits for Redis.
//!
//! **Quotas** of a plan (`take_quota`) are counters of the same kind, one per
//! organization and UTC calendar day or month, settled with Redis in the same
//! pipeline. A quota's counter starts from what the usage table counted
//! earlier in its period (`seed_quota`, at start), so a restart does not
//! reset it.
//!
//! One settle is one pipeline: for each key used lately, `INCRBY` its counter
//! for the window (named by client id, window length and window end; it
//! expires a little after the window) by this instance's new count (0 when
//! there is none), which answers the total of all instances; then this
//! instance marks itself alive in a sorted set and counts the instances alive
//! in the last three seconds. A failed or slow settle (over
//! [`redis::TIMEOUT`]) keeps the counts for the next one.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use keygate_core::quota::{Period, Quota, THRESHOLDS, threshold_count};
use keygate_core::{OrgId, RateLimit};

use crate::state::cache::FastHasher;
use crate::state::clock::now_ms;

pub mod redis;

/// How often counts are settled with Redis.
pub const SETTLE_EVERY: Duration = Duration::from_millis(75);

const SHARDS: usize = 64;

type SlotMap<V> = HashMap<u64, V, BuildHasherDefault<FastHasher>>;

/// One key's counts in its current window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    /// Unix second at which the window ends (and the next one starts).
    ends_at: u32,
    /// Allowed by this instance in this window.
    here: u32,
    /// Allowed by the other instances, as of the last settle with Redis.
    others: u32,
    /// Allowed here since the last settle (not yet in Redis).
    unsettled: u32,
}

/// A key used lately: its new counts go to Redis, and its total comes back,
/// on every settle until it has been idle for [`KEEP_FRESH`] settles.
struct Dirty {
    client_id: Box<str>,
    per_seconds: u32,
    /// Settles since this key was last asked for here.
    idle: u8,
}

/// How many settles (of 75 ms) a key's total keeps being read after its last
/// use here, so an instance learns what the others allowed meanwhile.
const KEEP_FRESH: u8 = 20;

#[derive(Default)]
struct Shard {
    slots: SlotMap<Slot>,
    /// Only with Redis: keys used in the last few settles.
    dirty: SlotMap<Dirty>,
}

/// Where a key stands against its limit after one token check; rendered as the
/// `RateLimit-Policy` and `RateLimit` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitStatus {
    pub limit: RateLimit,
    /// Requests still allowed in this window (after this one).
    pub remaining: u32,
    /// Seconds until the window ends and the count starts over.
    pub reset_secs: u32,
    /// For a refusal: seconds until a retry can succeed.
    pub retry_after_secs: u32,
}

/// The counters of every limited key, and (with Redis) how the settling goes.
pub struct KeyRateLimits {
    shards: Box<[Mutex<Shard>]>,
    ids: RandomState,
    /// Set when `--redis-url` is given.
    shared: Option<Shared>,
    /// Quotas whose count just reached a threshold (80/90/100 %), for the
    /// task that sends `quota.threshold`: touched only at those counts.
    crossed: Mutex<Vec<(OrgId, Quota)>>,
}

struct Shared {
    /// The last settle succeeded: limits hold across instances. Else each
    /// instance enforces the whole limit by itself.
    healthy: AtomicBool,
    /// Instances that settled with Redis in the last few seconds (this one too).
    peers: AtomicU32,
}

/// The window a check counts in: when it ends (Unix s) and the seconds
/// until then, rounded up.
#[derive(Clone, Copy)]
struct Window {
    ends_at: u32,
    reset_secs: u32,
}

impl Window {
    fn ending(ends_at_s: i64, now_ms: i64) -> Window {
        let reset_ms = ends_at_s * 1000 - now_ms;
        Window {
            ends_at: u32::try_from(ends_at_s).unwrap_or(u32::MAX),
            reset_secs: u32::try_from((reset_ms + 999) / 1000).unwrap_or(u32::MAX),
        }
    }
}

/// Counts taken out for one settle with Redis.
pub struct Pending {
    hash: u64,
    pub client_id: Box<str>,
    pub per_seconds: u32,
    pub ends_at: u32,
    pub delta: u32,
}

impl Pending {
    /// The Redis key of this key's counter for this window.
    pub fn redis_key(&self) -> String {
        format!(
            "keygate:rl:{}:{}:{}",
            self.client_id, self.per_seconds, self.ends_at
        )
    }
}

impl KeyRateLimits {
    /// `shared`: whether counts are settled with Redis (`--redis-url`).
    pub fn new(shared: bool) -> KeyRateLimits {
        KeyRateLimits {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            ids: RandomState::new(),
            crossed: Mutex::default(),
            shared: shared.then(|| Shared {
                healthy: AtomicBool::new(false),
                peers: AtomicU32::new(1),
            }),
        }
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard> {
        // The top bits: the map inside uses the low ones for its buckets.
        self.shards[(hash >> 58) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one token check of `client_id` against `limit` at `now_ms`:
    /// `Ok` if it is allowed (and counted), `Err` if the key is over its limit.
    pub fn take(
        &self,
        client_id: &str,
        limit: RateLimit,
        now_ms: i64,
    ) -> Result<RateLimitStatus, RateLimitStatus> {
        let per = i64::from(limit.per_seconds.max(1));
        let now_s = now_ms.div_euclid(1000);
        let ends_at = (now_s.div_euclid(per) + 1) * per;
        let hash = self.ids.hash_one(client_id);
        self.take_window(
            hash,
            || client_id.into(),
            limit,
            Window::ending(ends_at, now_ms),
        )
    }

    /// Takes back one count of a check that a later rule refused (so that a
    /// refused call uses neither the key's limit nor a quota).
    pub fn give_back(&self, client_id: &str) {
        self.give_back_hash(self.ids.hash_one(client_id));
    }

    fn give_back_hash(&self, hash: u64) {
        let mut shard = self.shard(hash);
        if let Some(slot) = shard.slots.get_mut(&hash)
            && slot.here > 0
        {
            slot.here -= 1;
            slot.unsettled = slot.unsettled.saturating_sub(1);
        }
    }

    /// One check counted in `window`'s counter `hash`; `name` names the
    /// counter in Redis (only asked the first time it is used lately).
    fn take_window(
        &self,
        hash: u64,
        name: impl FnOnce() -> Box<str>,
        limit: RateLimit,
        window: Window,
    ) -> Result<RateLimitStatus, RateLimitStatus> {
        let Window {
            ends_at,
            reset_secs,
        } = window;
        let n = limit.requests;
        let settling = self
            .shared
            .as_ref()
            .filter(|s| s.healthy.load(Ordering::Relaxed))
            .map(|s| s.peers.load(Ordering::Relaxed).max(1));
        let mut shard = self.shard(hash);
        let slot = shard.slots.entry(hash).or_default();
        if slot.ends_at != ends_at {
            *slot = Slot {
                ends_at,
                ..Slot::default()
            };
        }
        let (allowed, remaining, exhausted) = match settling {
            // Across instances: the others' counts as of the last settle, and
            // at most this instance's share of the rest until the next one.
            Some(peers) => {
                let settled = slot.here - slot.unsettled;
                let left = n.saturating_sub(slot.others.saturating_add(settled));
                let share = left.div_ceil(peers);
                let allowed = slot.unsettled < share;
                let used = slot.unsettled + u32::from(allowed);
                (allowed, left.saturating_sub(used), used >= left)
            }
            // Redis out of reach: this instance's own count.
            None if self.shared.is_some() => {
                let allowed = slot.here < n;
                let used = slot.here + u32::from(allowed);
                (allowed, n.saturating_sub(used), used >= n)
            }
            // One instance: its own count, plus what a quota counted before
            // this process started (`seed_quota`; 0 for key limits).
            None => {
                let before = slot.others.saturating_add(slot.here);
                let allowed = before < n;
                let used = before + u32::from(allowed);
                (allowed, n.saturating_sub(used), used >= n)
            }
        };
        let status = RateLimitStatus {
            limit,
            remaining,
            reset_secs,
            retry_after_secs: if exhausted { reset_secs.max(1) } else { 1 },
        };
        if allowed {
            slot.here += 1;
        }
        if self.shared.is_some() {
            if allowed {
                slot.unsettled += 1;
            }
            match shard.dirty.get_mut(&hash) {
                Some(d) => d.idle = 0,
                None => {
                    shard.dirty.insert(
                        hash,
                        Dirty {
                            client_id: name(),
                            per_seconds: limit.per_seconds,
                            idle: 0,
                        },
                    );
                }
            }
        }
        if allowed { Ok(status) } else { Err(status) }
    }

    /// Takes every count not yet in Redis (and the keys used lately, whose
    /// totals are to be read again), for one settle.
    pub fn take_pending(&self) -> Vec<Pending> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            let Shard { slots, dirty } = &mut *shard;
            dirty.retain(|hash, d| {
                let Some(slot) = slots.get_mut(hash) else {
                    return false;
                };
                if slot.unsettled == 0 && d.idle >= KEEP_FRESH {
                    return false;
                }
                out.push(Pending {
                    hash: *hash,
                    client_id: d.client_id.clone(),
                    per_seconds: d.per_seconds,
                    ends_at: slot.ends_at,
                    delta: slot.unsettled,
                });
                slot.unsettled = 0;
                d.idle = d.idle.saturating_add(1);
                true
            });
        }
        out
    }

    /// Redis took the counts: `totals[i]` is the count of every instance
    /// together for `pending[i]`'s key and window; `peers` the live instances.
    pub fn settled(&self, pending: Vec<Pending>, totals: &[i64], peers: u32) {
        for (p, total) in pending.into_iter().zip(totals) {
            let mut shard = self.shard(p.hash);
            if let Some(slot) = shard.slots.get_mut(&p.hash)
                && slot.ends_at == p.ends_at
            {
                let settled = i64::from(slot.here - slot.unsettled);
                slot.others = u32::try_from((total - settled).max(0)).unwrap_or(u32::MAX);
            }
        }
        if let Some(s) = &self.shared {
            s.peers.store(peers.max(1), Ordering::Relaxed);
            s.healthy.store(true, Ordering::Relaxed);
        }
    }

    /// Redis did not take the counts: keep them for the next settle, and
    /// enforce limits per instance meanwhile.
    pub fn unsettled(&self, pending: Vec<Pending>) {
        if let Some(s) = &self.shared {
            s.healthy.store(false, Ordering::Relaxed);
        }
        for p in pending {
            let mut shard = self.shard(p.hash);
            let Shard { slots, dirty } = &mut *shard;
            if let Some(slot) = slots.get_mut(&p.hash)
                && slot.ends_at == p.ends_at
            {
                slot.unsettled += p.delta;
                dirty.entry(p.hash).or_insert(Dirty {
                    client_id: p.client_id,
                    per_seconds: p.per_seconds,
                    idle: 0,
                });
            }
        }
    }

    /// Whether limits currently hold across instances (Redis answered last time).
    pub fn is_shared_now(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|s| s.healthy.load(Ordering::Relaxed))
    }

    /// Drops the counts of windows that are over.
    pub fn sweep(&self, now_ms: i64) {
        let now_s = u32::try_from(now_ms.div_euclid(1000)).unwrap_or(u32::MAX);
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            let Shard { slots, dirty } = &mut *shard;
            slots.retain(|h, s| s.ends_at > now_s || dirty.contains_key(h));
        }
    }

    /// Keys with counts in memory.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).slots.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

mod quotas;
pub mod settle;

#[cfg(test)]
mod tests;
