//! The `Store` trait on the shared SQL layer, one file per area as in
//! `store/` (`sql/store/<area>.rs`). Each method is the inherent one of the
//! same name in the topic files of `sql/` (`orgs.rs`, `keys.rs`, …), or the
//! database's own (`Sql`). Each area's `impl` is written with
//! `impl_for_sql_store!` (in `sql/mod.rs`), which adds the bounds on the
//! driver; this file holds `Store`'s own methods.

mod audit;
mod factors;
mod keys;
mod notifications;
mod orgs;
mod people;
mod usage;

use async_trait::async_trait;

use crate::sql::{SqlStore, impl_for_sql_store};
use crate::{ChangeFeed, Migration, PoolStats, Result, Store};

impl_for_sql_store! {
    #[async_trait]
    impl Store for SqlStore {
        async fn subscribe_changes(&self, now_ms: fn() -> i64) -> Result<Option<ChangeFeed>> {
            DB::subscribe_changes(self, now_ms).await
        }

        async fn is_empty(&self) -> Result<bool> {
            SqlStore::is_empty(self).await
        }

        fn pool_stats(&self) -> Vec<PoolStats> {
            SqlStore::pool_stats(self)
        }

        async fn pending_migrations(&self) -> Result<Vec<Migration>> {
            SqlStore::pending_migrations(self).await
        }

        async fn migrate(&self) -> Result<Vec<Migration>> {
            let applied = SqlStore::migrate(self).await?;
            self.chain_unlinked_audit().await?;
            Ok(applied)
        }
    }
}
