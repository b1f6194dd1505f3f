//! [`UsageStore`] on the SQL layer: the inherent methods of the same names in
//! `usage.rs`.

use async_trait::async_trait;
use keygate_core::{ClientId, OrgId};

use crate::sql::{SqlStore, impl_for_sql_store};
use crate::{
    AuditEvent, LastUsed, Result, UnusedKey, UsageBatch, UsageCounts, UsageQuery, UsageStore,
    UsageTable,
};

impl_for_sql_store! {
    #[async_trait]
    impl UsageStore for SqlStore {
        async fn record_usage(&self, batch: &UsageBatch) -> Result<()> {
            SqlStore::record_usage(self, batch).await
        }

        async fn usage(&self, query: &UsageQuery) -> Result<Vec<(i64, UsageCounts)>> {
            SqlStore::usage(self, query).await
        }

        async fn usage_by_key(
            &self,
            org_id: &OrgId,
            table: UsageTable,
            from: i64,
            to: i64,
        ) -> Result<Vec<(ClientId, UsageCounts)>> {
            SqlStore::usage_by_key(self, org_id, table, from, to).await
        }

        async fn last_used(&self, org_id: &OrgId) -> Result<Vec<LastUsed>> {
            SqlStore::last_used(self, org_id).await
        }

        async fn prune_usage(&self, minutes_before: i64, days_before: i64) -> Result<u64> {
            SqlStore::prune_usage(self, minutes_before, days_before).await
        }

        async fn unused_keys(
            &self,
            now: i64,
            idle_before: i64,
            limit: u32,
        ) -> Result<Vec<UnusedKey>> {
            SqlStore::unused_keys(self, now, idle_before, limit).await
        }

        async fn claim_unused(
            &self,
            key: &UnusedKey,
            idle_before: i64,
            audit: &AuditEvent,
        ) -> Result<bool> {
            SqlStore::claim_unused(self, key, idle_before, audit).await
        }
    }
}
