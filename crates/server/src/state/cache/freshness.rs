//! How current the cache is with respect to the other instances' changes.
//!
//! With several instances on PostgreSQL, the change feed carries a heartbeat
//! (see the store's `postgres/changes.rs`): when this instance hears its own
//! beat back and has applied every notice before it, `tasks/sync.rs` moves this
//! clock to the time the beat was sent. The hot path reads the clock (one
//! atomic load, no lock, no query) and answers from the cache only when the
//! feed was confirmed current less than [`MAX_LAG_MS`] ago. Otherwise (the
//! process was paused and has not read the notices queued meanwhile, or the
//! listener is lost) the request waits up to [`WAIT`] for the next beat, and
//! is refused with 503 when none comes: fail closed.
//!
//! SQLite has no other writers and no feed: the clock stays at "always".

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// How old the last confirmation may be for the cache to answer at once
/// (four heartbeats of 250 ms).
pub const MAX_LAG_MS: i64 = 1_000;
/// How long a request waits for the feed to catch up before it is refused.
pub const WAIT: Duration = Duration::from_secs(2);
/// Refusals for a stale cache are logged at most this often.
const LOG_EVERY_MS: i64 = 10_000;

pub struct Freshness {
    /// Unix ms: every change committed before it is in the cache.
    current_as_of: AtomicI64,
    moved: tokio::sync::Notify,
    last_log_ms: AtomicI64,
    refused: AtomicU64,
}

impl Default for Freshness {
    fn default() -> Freshness {
        Freshness {
            current_as_of: AtomicI64::new(i64::MAX),
            moved: tokio::sync::Notify::new(),
            last_log_ms: AtomicI64::new(i64::MIN),
            refused: AtomicU64::new(0),
        }
    }
}

impl Freshness {
    /// From now on only the feed's heartbeats vouch for the cache.
    pub fn follow_feed(&self) {
        self.current_as_of.store(0, Ordering::Release);
    }

    /// Every change committed before `at_ms` is in the cache.
    pub fn confirm(&self, at_ms: i64) {
        self.current_as_of.fetch_max(at_ms, Ordering::Release);
        self.moved.notify_waiters();
    }

    /// Unix ms before which every change is in the cache; `i64::MAX` when no
    /// feed is followed (SQLite).
    pub fn current_as_of(&self) -> i64 {
        self.current_as_of.load(Ordering::Acquire)
    }

    /// The hot path's test: confirmed recently enough before `now_ms`.
    #[inline]
    pub fn is_current(&self, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.current_as_of.load(Ordering::Acquire)) <= MAX_LAG_MS
    }

    /// Waits (at most [`WAIT`]) until the cache is current for a request that
    /// arrived at `now_ms`; false if it did not get there in time.
    pub async fn wait_current(&self, now_ms: i64) -> bool {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let moved = self.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if self.is_current(now_ms) {
                return true;
            }
            if tokio::time::timeout_at(deadline, moved).await.is_err() {
                return self.is_current(now_ms);
            }
        }
    }

    /// Counts a request refused because the cache could not be trusted, and
    /// logs at most once per [`LOG_EVERY_MS`], not once per request.
    pub fn refused(&self, now_ms: i64, why: &'static str) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        let last = self.last_log_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < LOG_EVERY_MS
            || self
                .last_log_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let refused = self.refused.swap(0, Ordering::Relaxed);
        let as_of = self.current_as_of.load(Ordering::Acquire);
        tracing::warn!(
            refused,
            behind_ms = now_ms.saturating_sub(as_of),
            reason = why,
            "the credential cache cannot be confirmed current; refusing logins and token checks with 503"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_feed_the_cache_is_always_current() {
        assert!(Freshness::default().is_current(i64::MAX - 1));
    }

    #[tokio::test]
    async fn a_request_waits_for_the_next_beat_and_gives_up_after_a_while() {
        let f = std::sync::Arc::new(Freshness::default());
        f.follow_feed();
        f.confirm(10_000);
        assert!(f.is_current(11_000));
        assert!(!f.is_current(11_001));
        let waiter = {
            let f = f.clone();
            tokio::spawn(async move { f.wait_current(20_000).await })
        };
        tokio::task::yield_now().await;
        f.confirm(19_500);
        assert!(waiter.await.unwrap());

        let started = std::time::Instant::now();
        assert!(!f.wait_current(30_000).await, "no beat: refused");
        assert!(started.elapsed() >= WAIT, "after waiting for one");
    }
}
