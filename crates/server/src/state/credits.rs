//! Credits of keys, counted in memory on the hot path: each allowed token
//! check of a key with credits takes one here, with no database or Redis
//! call. `tasks/credits.rs` settles what each instance used into the
//! database in batches (`Store::settle_credits`, every second) and, with
//! several instances, reads back what the others used. A key refused at 0
//! (or brought to 0) is noted once per setting and refill period for
//! `api_key.credits_exhausted`, which the same task claims and sends.
//!
//! Counts: a slot per key holds `base`, what the database had left as of
//! its last settle (or the credential's when first used), and `used`, what
//! this instance took since. A new setting (an edit, `Credits::set_at`)
//! starts the slot over; a refill period that starts sets `base` to the
//! refill's amount and forgets the old period's `used`.

use std::collections::HashMap;
use std::sync::Mutex;

use keygate_core::ClientId;
use keygate_core::credits::{Credits, Refill};
use keygate_store::{CreditsUse, SettledCredits};

const SHARDS: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Slot {
    set_at: i64,
    period_start: i64,
    refill: Option<Refill>,
    base: i64,
    used: i64,
    /// The part of `used` a settle under way is writing.
    sending: i64,
    /// The last exhaustion mark noted for the event (0: none).
    noted: i64,
}

impl Slot {
    fn new(c: &Credits) -> Slot {
        Slot {
            set_at: c.set_at,
            period_start: c.period_start,
            refill: c.refill,
            base: c.remaining,
            used: 0,
            sending: 0,
            noted: 0,
        }
    }

    /// Moves to the refill period that holds `now_ms`, if it is newer.
    fn roll(&mut self, now_ms: i64) {
        if let Some(r) = self.refill {
            let start = r.period.bounds(now_ms).0;
            if start > self.period_start {
                self.period_start = start;
                self.base = r.amount;
                self.used = 0;
                self.sending = 0;
            }
        }
    }

    fn left(&self) -> i64 {
        (self.base - self.used).max(0)
    }
}

/// A key whose credits ran out: send `api_key.credits_exhausted` for `mark`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhausted {
    pub client_id: ClientId,
    pub mark: i64,
    /// When the refill comes (Unix ms), if there is one.
    pub refills_at: Option<i64>,
}

#[derive(Default)]
pub struct KeyCredits {
    shards: [Mutex<HashMap<ClientId, Slot>>; SHARDS],
    exhausted: Mutex<Vec<Exhausted>>,
}

impl KeyCredits {
    fn shard(&self, client_id: &str) -> std::sync::MutexGuard<'_, HashMap<ClientId, Slot>> {
        let h = client_id.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        self.shards[h % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one credit of the key for a check at `now_ms`; `Err` with when
    /// the refill comes (if there is one) when none is left.
    pub fn take(&self, client_id: &ClientId, c: &Credits, now_ms: i64) -> Result<(), Option<i64>> {
        let mut shard = self.shard(client_id.as_str());
        // A key first used here, or set anew since: start over (the id is
        // cloned only then).
        if shard.get(client_id).is_none_or(|s| s.set_at != c.set_at) {
            shard.insert(client_id.clone(), Slot::new(c));
        }
        let Some(slot) = shard.get_mut(client_id) else {
            return Ok(());
        };
        slot.roll(now_ms);
        let left = slot.left();
        if left > 1 {
            slot.used += 1;
            return Ok(());
        }
        let mark = c.exhaustion_mark(now_ms);
        let note = slot.noted < mark;
        slot.noted = slot.noted.max(mark);
        let taken = if left == 1 {
            slot.used += 1;
            Ok(())
        } else {
            Err(c.next_refill(now_ms))
        };
        drop(shard);
        if note {
            self.exhausted
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Exhausted {
                    client_id: client_id.clone(),
                    mark,
                    refills_at: c.next_refill(now_ms),
                });
        }
        taken
    }

    /// Gives back a credit taken by a check that was refused after all.
    pub fn give_back(&self, client_id: &ClientId) {
        if let Some(s) = self.shard(client_id.as_str()).get_mut(client_id) {
            s.used = (s.used - 1).max(s.sending);
        }
    }

    /// What the key has left at `now_ms` as this instance counts it:
    /// `stored` (as read from the database) less what was used here since.
    pub fn remaining(&self, client_id: &ClientId, stored: &Credits, now_ms: i64) -> i64 {
        let shard = self.shard(client_id.as_str());
        match shard.get(client_id) {
            Some(s) if s.set_at == stored.set_at => {
                let mut s = *s;
                s.roll(now_ms);
                s.left()
            }
            _ => stored.remaining_at(now_ms),
        }
    }

    /// The keys that ran out since the last call.
    pub fn take_exhausted(&self) -> Vec<Exhausted> {
        std::mem::take(&mut *self.exhausted.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// What was used here and not yet settled, marked as being sent; pass
    /// the store's answer to [`KeyCredits::settled`] (or nothing to
    /// [`KeyCredits::unsent`] when the write failed).
    pub fn to_settle(&self, now_ms: i64) -> Vec<CreditsUse> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            for (id, s) in shard.iter_mut() {
                s.roll(now_ms);
                if s.used > 0 {
                    s.sending = s.used;
                    out.push(CreditsUse {
                        client_id: id.clone(),
                        set_at: s.set_at,
                        period_start: s.period_start,
                        used: s.used,
                    });
                }
            }
        }
        out
    }

    /// The settle of `sent` failed: it is sent again next time.
    pub fn unsent(&self, sent: &[CreditsUse]) {
        for u in sent {
            if let Some(s) = self.shard(u.client_id.as_str()).get_mut(&u.client_id) {
                s.sending = 0;
            }
        }
    }

    /// The settle of `sent` is written: what was sent is no longer this
    /// instance's own, and `now` (what the database has left after it, and
    /// with several instances every key's as others settled it) is the base.
    pub fn settled(&self, sent: &[CreditsUse], now: &[SettledCredits]) {
        for u in sent {
            let mut shard = self.shard(u.client_id.as_str());
            if let Some(s) = shard.get_mut(&u.client_id)
                && s.set_at == u.set_at
                && s.period_start == u.period_start
            {
                s.used = (s.used - u.used).max(0);
                s.sending = 0;
                // Without an answer the row is of another setting or period
                // (or gone): what was sent is dropped all the same.
            }
        }
        for r in now {
            let mut shard = self.shard(r.client_id.as_str());
            if let Some(s) = shard.get_mut(&r.client_id)
                && s.set_at == r.set_at
                && r.period_start >= s.period_start
                && s.sending == 0
            {
                s.base = r.remaining;
                s.period_start = r.period_start;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DAY: i64 = 86_400_000;
    const NOW: i64 = 20_000 * DAY + 3_600_000;

    #[test]
    fn credits_run_out_and_refill() {
        let c = Credits::parse(
            &json!({"remaining": 2, "refill": {"amount": 3, "period": "day"}}),
            "credits",
            NOW,
        )
        .unwrap();
        let k = KeyCredits::default();
        let id = ClientId::generate();
        assert_eq!(k.take(&id, &c, NOW), Ok(()));
        assert_eq!(k.take(&id, &c, NOW), Ok(()));
        assert_eq!(k.take(&id, &c, NOW), Err(Some(20_001 * DAY)));
        assert_eq!(k.take_exhausted().len(), 1);
        assert_eq!(k.take(&id, &c, NOW), Err(Some(20_001 * DAY)));
        assert!(k.take_exhausted().is_empty(), "once per period");
        assert_eq!(k.remaining(&id, &c, NOW + DAY), 3);
        let sent = k.to_settle(NOW);
        assert_eq!(sent[0].used, 2);
        k.settled(&sent, &[]);
        assert!(k.to_settle(NOW).is_empty());
        for _ in 0..3 {
            assert_eq!(k.take(&id, &c, NOW + DAY), Ok(()));
        }
        assert!(k.take(&id, &c, NOW + DAY).is_err());
        assert_eq!(k.take_exhausted().len(), 1, "a new period, a new event");
    }
}
