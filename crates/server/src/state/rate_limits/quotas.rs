//! Quotas of a plan: counters of the same kind as key limits, one per
//! organization and UTC calendar day or month (see the parent's notes).

use super::*;

/// The name of an organization's quota counter in Redis (beside key ids,
/// which start `kg_`/`ak_`…, never `quota-`).
fn quota_counter(org_id: &OrgId, period: Period) -> Box<str> {
    format!("quota-{}:{}", period.as_str(), org_id).into()
}

impl KeyRateLimits {
    /// Counts one token check against the organization's `quota` for the UTC
    /// calendar period of `now_ms`: the same counters (and Redis settling) as
    /// key limits, one per organization and period. The status's
    /// `limit.per_seconds` is the period's length.
    pub fn take_quota(
        &self,
        org_id: &OrgId,
        quota: Quota,
        now_ms: i64,
    ) -> Result<RateLimitStatus, RateLimitStatus> {
        let (start, end) = quota.period.bounds(now_ms);
        let limit = RateLimit {
            requests: quota.requests,
            per_seconds: u32::try_from((end - start) / 1000).unwrap_or(u32::MAX),
        };
        let taken = self.take_window(
            self.quota_hash(org_id, quota.period),
            || quota_counter(org_id, quota.period),
            limit,
            Window::ending(end.div_euclid(1000), now_ms),
        );
        if let Ok(s) = &taken {
            let used = quota.requests.saturating_sub(s.remaining);
            if THRESHOLDS
                .iter()
                .any(|p| threshold_count(quota.requests, *p) == used)
            {
                self.crossed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((org_id.clone(), quota));
            }
        }
        taken
    }

    /// Quotas that reached a threshold since the last call (an organization
    /// may have left its plan since).
    pub fn take_crossed(&self) -> Vec<(OrgId, Quota)> {
        std::mem::take(&mut *self.crossed.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn quota_hash(&self, org_id: &OrgId, period: Period) -> u64 {
        self.ids.hash_one((org_id.as_str(), period))
    }

    pub fn give_back_quota(&self, org_id: &OrgId, period: Period) {
        self.give_back_hash(self.quota_hash(org_id, period));
    }

    /// Counts of the organization's period allowed before this process
    /// started (from the usage table): they count against the quota here;
    /// with Redis, the first settle replaces them with Redis's total.
    pub fn seed_quota(&self, org_id: &OrgId, period: Period, allowed: u32, now_ms: i64) {
        let (_, end) = period.bounds(now_ms);
        let ends_at = u32::try_from(end.div_euclid(1000)).unwrap_or(u32::MAX);
        let hash = self.quota_hash(org_id, period);
        let mut shard = self.shard(hash);
        let slot = shard.slots.entry(hash).or_default();
        if slot.ends_at != ends_at {
            *slot = Slot {
                ends_at,
                ..Slot::default()
            };
        }
        // The usage table also holds this process's own calls once flushed,
        // and those are already in `here`: an organization seeded while it
        // takes calls (put on a plan a moment ago) would count them twice.
        // Minus `here`, the count errs the other way by at most the calls
        // counted here but not yet flushed at this moment (one
        // `--usage-flush-interval`'s worth), which then go uncounted for the
        // period: under the quota rather than over it.
        slot.others = slot.others.max(allowed.saturating_sub(slot.here));
    }

    /// How many checks the organization's `period` quota counted in the
    /// period of `now_ms`, on every instance as of the last settle.
    pub fn quota_used(&self, org_id: &OrgId, period: Period, now_ms: i64) -> u32 {
        let (_, end) = period.bounds(now_ms);
        let ends_at = u32::try_from(end.div_euclid(1000)).unwrap_or(u32::MAX);
        let hash = self.quota_hash(org_id, period);
        let shard = self.shard(hash);
        match shard.slots.get(&hash) {
            Some(s) if s.ends_at == ends_at => s.others.saturating_add(s.here),
            _ => 0,
        }
    }
}
