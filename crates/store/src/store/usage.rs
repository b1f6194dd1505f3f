//! Usage of keys: counts per key and minute or day, last uses, retention,
//! and the notices of idle keys.

use async_trait::async_trait;
use keygate_core::{ClientId, OrgId};

use crate::{
    AuditEvent, LastUsed, Result, UnusedKey, UsageBatch, UsageCounts, UsageQuery, UsageTable,
};

/// Usage of keys.
///
/// One area of [`Store`](crate::Store), implemented for `SqlStore` in
/// `sql/store/usage.rs`.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Adds one flush of a usage recorder: counts per key and minute (to the
    /// minute and the day tables) and each key's last use (a later use wins).
    async fn record_usage(&self, batch: &UsageBatch) -> Result<()>;

    /// Counts per bucket (minute or UTC day start, Unix ms), summed over the
    /// organization's keys or for one key, only buckets with a row, in order.
    async fn usage(&self, query: &UsageQuery) -> Result<Vec<(i64, UsageCounts)>>;

    /// Counts per key of the organization in `[from, to)`.
    async fn usage_by_key(
        &self,
        org_id: &OrgId,
        table: UsageTable,
        from: i64,
        to: i64,
    ) -> Result<Vec<(ClientId, UsageCounts)>>;

    /// The last use of every key of the organization that was ever used.
    async fn last_used(&self, org_id: &OrgId) -> Result<Vec<LastUsed>>;

    /// Retention: minute rows before `minutes_before`, day rows before
    /// `days_before`, and the activity of deleted keys. Returns rows removed.
    async fn prune_usage(&self, minutes_before: i64, days_before: i64) -> Result<u64>;

    /// Keys idle since before `idle_before` not yet told about (at most
    /// `limit`), leaving out keys expired at `now`.
    async fn unused_keys(&self, now: i64, idle_before: i64, limit: u32) -> Result<Vec<UnusedKey>>;

    /// Claims the `*.unused` notice of `key` with a conditional update and
    /// writes `audit` (and its outbox rows) in the same transaction; false when
    /// another instance claimed it first or the key was used meanwhile.
    async fn claim_unused(
        &self,
        key: &UnusedKey,
        idle_before: i64,
        audit: &AuditEvent,
    ) -> Result<bool>;
}
