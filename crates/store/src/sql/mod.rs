//! The SQL layer both backends share: one query text, one row decoding and one
//! "write, audit, queue notifications, commit" path, generic over the sqlx
//! database. The SQL is written so that SQLite and PostgreSQL both run it
//! (`$n` placeholders, which SQLite also binds by number; no casts; booleans
//! tested bare). What truly differs per database (opening, the change feed,
//! claiming, streaming reads, batch inserts, migrations) is the [`Sql`] trait, implemented
//! in `sqlite/` and `postgres/`.
//!
//! The `where` clause on each `impl` block of `SqlStore` lists what the shared
//! code needs from the driver; Rust does not let a trait carry bounds on other
//! types for its users, so each block repeats it. The `Store` trait's impls
//! (`store/`) take it from `impl_for_sql_store!` instead; the inherent impls
//! of the topic files keep it written out, as rustfmt does not format code
//! inside a macro call.

mod audit;
mod audit_streams;
mod credits;
mod keys;
mod leaks;
mod members;
mod notifications;
mod operator_webhooks;
mod operators;
mod orgs;
mod passkeys;
mod passwords;
mod people;
mod plans;
mod policies;
pub(crate) mod rows;
mod schema;
mod sessions;
mod sso;
mod store;
mod two_factor;
mod usage;

use async_trait::async_trait;
use sqlx::{Database, IntoArguments, Pool, Transaction};

use crate::{Change, ChangeFeed, KeyCredential, Result, StoreError};

/// A store on one SQL database. Reads go to `read`, writes to `write`: two
/// pools on SQLite (one writer connection), the same pool twice on PostgreSQL.
pub struct SqlStore<DB: Database> {
    pub(crate) read: Pool<DB>,
    pub(crate) write: Pool<DB>,
}

impl<DB: Sql> SqlStore<DB> {
    /// A transaction on the writer.
    pub(crate) async fn begin(&self) -> Result<Transaction<'static, DB>> {
        self.write.begin().await.map_err(db::<DB>)
    }
}

/// `impl<DB: Sql> Area for SqlStore<DB>` under the bounds the shared code
/// needs from the driver (the `where` block of the inherent impls), for the
/// traits of the `Store` (`store/`). Written as the impl it expands to, less
/// the generics: `impl_for_sql_store! { #[async_trait] impl KeyStore for
/// SqlStore { … } }`; the body may name `DB`.
macro_rules! impl_for_sql_store {
    ($(#[$attr:meta])* impl $area:ident for SqlStore { $($body:tt)* }) => {
        $(#[$attr])*
        impl<DB: $crate::sql::Sql> $area for $crate::sql::SqlStore<DB>
        where
            for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::ColumnIndex<DB::Row>,
            for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
            for<'q> Option<&'q str>: sqlx::Encode<'q, DB>,
            for<'q> Option<i64>: sqlx::Encode<'q, DB>,
            for<'q, 'r> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'r, DB> + sqlx::Type<DB>,
            for<'q, 'r> bool: sqlx::Encode<'q, DB> + sqlx::Decode<'r, DB> + sqlx::Type<DB>,
            for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
        {
            $($body)*
        }
    };
}
pub(crate) use impl_for_sql_store;

/// What each database does its own way. Implemented for `sqlx::Sqlite` (in
/// `sqlite/`) and `sqlx::Postgres` (in `postgres/`).
#[async_trait]
pub trait Sql: Database<Arguments: IntoArguments<Self>> {
    /// Driver errors that mean "the database cannot be reached right now": the
    /// request gets 503 and a retry may work.
    fn is_unavailable(e: &sqlx::Error) -> bool;
    fn rows_affected(result: &Self::QueryResult) -> u64;
    /// The redeliver check's query; PostgreSQL locks the row (`for update`) so a
    /// dispatcher claiming it at the same moment waits, then sees the fresh state.
    const LEASE_OF_DELIVERY: &'static str;
    /// The inviter's current role, read inside the transaction that creates
    /// or accepts an invitation. PostgreSQL locks the membership row (`for
    /// share`): a removal or role change at the same moment waits for that
    /// transaction, or that transaction waits for it and reads the new role.
    /// SQLite's one writer serializes the two anyway.
    const INVITER_ROLE: &'static str;
    /// Whether `insert_keys` writes a whole batch in one transaction with one
    /// audit event (SQLite, one writer), or one transaction and event per key.
    const ONE_TRANSACTION_PER_BATCH: bool;
    /// Whether `read` and `write` are the same pool (PostgreSQL).
    const ONE_POOL: bool;
    /// A query counting the tables named `_sqlx_migrations` the store sees (0
    /// before the first migration, else 1).
    const MIGRATIONS_TABLE: &'static str;

    /// This database's migrations (`migrations/<backend>`).
    fn migrator() -> &'static sqlx::migrate::Migrator;
    /// Applies the migrations the database has not had yet, on the writer.
    async fn apply_migrations(store: &SqlStore<Self>) -> Result<()>;

    /// Run inside the transaction of every change to a row the credential
    /// cache holds (keys, accounts). PostgreSQL tells the other instances.
    async fn changed(tx: &mut Transaction<'static, Self>, change: &Change) -> Result<()>;
    async fn subscribe_changes(
        store: &SqlStore<Self>,
        now_ms: fn() -> i64,
    ) -> Result<Option<ChangeFeed>>;
    /// Leases due deliveries until `lease_until` and returns their ids.
    async fn claim(
        tx: &mut Transaction<'static, Self>,
        now: i64,
        limit: u32,
        lease_until: i64,
    ) -> Result<Vec<String>>;
    /// Every key's hot-path fields, one at a time (see `Store::each_key_credential`).
    async fn each_key_credential(
        store: &SqlStore<Self>,
        f: &mut (dyn FnMut(KeyCredential) + Send),
    ) -> Result<()>;
}

/// A driver error as a `StoreError`.
pub(crate) fn db<DB: Sql>(e: sqlx::Error) -> StoreError {
    if DB::is_unavailable(&e) {
        unavailable(e)
    } else {
        StoreError::Internal(e.to_string())
    }
}

pub(crate) fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// `NotFound` when a change touched no row.
pub(crate) fn found<DB: Sql>(done: &DB::QueryResult) -> Result<()> {
    if DB::rows_affected(done) == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Maps a uniqueness violation to `Conflict(message)`, anything else as `db`.
pub(crate) fn conflict<DB: Sql>(message: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(message),
        _ => db::<DB>(e),
    }
}
