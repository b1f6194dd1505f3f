//! The `Store` trait: everything Keygate keeps, behind one interface, in
//! areas. Each area is a trait of its own under `store/`: organizations and
//! plans (`OrgStore`), people, sessions and single sign-on (`PeopleStore`),
//! passkeys and two-factor (`FactorStore`), keys and their credits
//! (`KeyStore`), usage (`UsageStore`), the audit log (`AuditStore`), webhooks
//! and the outbox (`NotificationStore`). `Store` is all of them, plus what
//! concerns the database as a whole: the change feed, the schema, the pools.
//!
//! The areas keep each file short enough to read; the one trait keeps one
//! thing to pass around. Code holding a `&dyn Store`, an `Arc<dyn Store>` or
//! an `S: Store` calls any area's method without importing the area's trait
//! (a trait object and a bound bring their supertraits' methods along); only
//! a call on a concrete store type (`SqliteStore`, `PgStore`) needs the
//! area's trait in scope. The SQL layer implements each area in
//! `sql/store/<area>.rs`.

mod audit;
mod factors;
mod keys;
mod notifications;
mod orgs;
mod people;
mod usage;

use async_trait::async_trait;

pub use audit::AuditStore;
pub use factors::FactorStore;
pub use keys::KeyStore;
pub use notifications::NotificationStore;
pub use orgs::OrgStore;
pub use people::PeopleStore;
pub use usage::UsageStore;

use crate::{ChangeFeed, Migration, PoolStats, Result};

/// Everything Keygate keeps: every area's trait, and the database as a whole.
#[async_trait]
pub trait Store:
    OrgStore
    + PeopleStore
    + FactorStore
    + KeyStore
    + UsageStore
    + AuditStore
    + NotificationStore
    + Send
    + Sync
    + 'static
{
    /// Changes committed by any instance sharing this database, for keeping
    /// in-memory caches in step. `None` for a database that only this process
    /// writes (SQLite). Listening has begun when this returns.
    /// `now_ms` is the server's clock: heartbeats carry its time, so the
    /// feed's freshness is measured on the clock the server reads.
    async fn subscribe_changes(&self, now_ms: fn() -> i64) -> Result<Option<ChangeFeed>> {
        let _ = now_ms;
        Ok(None)
    }

    /// True when no organization exists yet (`serve --demo` fills such a database).
    async fn is_empty(&self) -> Result<bool>;

    // Operations (the metrics listener).

    /// The connection pools' use now; no query.
    fn pool_stats(&self) -> Vec<PoolStats>;

    // The schema.

    /// The migrations this build knows that the database has not had yet,
    /// oldest first. Reads only: a database never migrated has them all.
    async fn pending_migrations(&self) -> Result<Vec<Migration>>;

    /// Applies the pending migrations (on PostgreSQL under sqlx's advisory
    /// lock, so several instances may run it at once) and returns those that
    /// were pending when it started.
    async fn migrate(&self) -> Result<Vec<Migration>>;
}
