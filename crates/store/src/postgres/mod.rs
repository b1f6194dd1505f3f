//! PostgreSQL, for several Keygate instances behind a load balancer.
//!
//! The queries are the shared ones of `crate::sql`; this file keeps what is
//! PostgreSQL's own:
//!
//! Every change that the credential cache holds (keys, accounts) also sends a
//! `pg_notify` on [`CHANNEL`] in the same transaction, so other instances hear
//! of it exactly when it commits, and never of a change that rolled back.
//!
//! Work shared by instances (the notification outbox) is claimed with
//! `select … for update skip locked` inside one short transaction that marks
//! the rows taken (a lease), so each row goes to exactly one instance's
//! dispatcher and a crashed dispatcher's claim lapses.

mod changes;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgQueryResult};
use sqlx::{Postgres, Transaction};

use crate::sql::{Sql, SqlStore, unavailable};
use crate::{Change, ChangeFeed, KeyCredential, Result, StoreError};

pub use changes::CHANNEL;

fn db(e: sqlx::Error) -> StoreError {
    crate::sql::db::<sqlx::Postgres>(e)
}

/// How long a request waits for a connection before answering 503: short, so
/// a stopped database shows up as `unavailable` rather than as a hung request.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The PostgreSQL migrations, built into the binary.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The store on PostgreSQL.
pub type PgStore = SqlStore<Postgres>;

impl SqlStore<Postgres> {
    /// Connects to `url` (`postgres://user@host:port/db`) and brings the schema
    /// up to date. Several instances may start at once: sqlx serialises their
    /// migrations with an advisory lock.
    pub async fn open(url: &str) -> Result<PgStore> {
        let store = Self::open_unmigrated(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to `url` and leaves the schema as it is: see
    /// `Store::pending_migrations` and `Store::migrate`.
    pub async fn open_unmigrated(url: &str) -> Result<PgStore> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("bad PostgreSQL URL: {e}")))?
            .application_name("keygate");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .min_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        Ok(SqlStore {
            read: pool.clone(),
            write: pool,
        })
    }

    /// The migration versions this backend knows, for comparing backends.
    pub fn migration_versions() -> Vec<i64> {
        MIGRATOR.iter().map(|m| m.version).collect()
    }
}

#[async_trait]
impl Sql for Postgres {
    /// Errors that mean "PostgreSQL cannot be reached or is going away".
    fn is_unavailable(e: &sqlx::Error) -> bool {
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(d) => d.code().is_some_and(|c| {
                // 08: connection exception; 57P01-57P03: admin/crash shutdown,
                // cannot connect now; 53300: too many connections; 40001/40P01:
                // serialization failure/deadlock, which a retry resolves.
                c.starts_with("08")
                    || matches!(
                        &*c,
                        "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01"
                    )
            }),
            _ => false,
        }
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    // `for update`: a dispatcher claiming the row at the same moment waits for
    // the redeliver's transaction, then sees the fresh state.
    const LEASE_OF_DELIVERY: &'static str =
        "select lease_until from deliveries where org_id = $1 and delivery_id = $2 for update";
    const INVITER_ROLE: &'static str =
        "select role from memberships where org_id = $1 and user_id = $2 for share";
    // One transaction (and `pg_notify`) per key, as the trait's default.
    const ONE_TRANSACTION_PER_BATCH: bool = false;
    const ONE_POOL: bool = true;
    const MIGRATIONS_TABLE: &'static str = "select count(*) as n from information_schema.tables \
         where table_schema = current_schema() and table_name = '_sqlx_migrations'";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn apply_migrations(store: &PgStore) -> Result<()> {
        MIGRATOR
            .run(&store.write)
            .await
            .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))
    }

    /// Tells every instance (this one too) that a cached row changed. Delivered
    /// by PostgreSQL on commit, in commit order.
    async fn changed(tx: &mut Transaction<'static, Postgres>, change: &Change) -> Result<()> {
        sqlx::query("select pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(changes::payload(change))
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn subscribe_changes(store: &PgStore, now_ms: fn() -> i64) -> Result<Option<ChangeFeed>> {
        let options = (*store.write.connect_options()).clone();
        changes::subscribe(options, now_ms).await.map(Some)
    }

    async fn claim(
        tx: &mut Transaction<'static, Postgres>,
        now: i64,
        limit: u32,
        lease_until: i64,
    ) -> Result<Vec<String>> {
        // `skip locked`: a row another instance is claiming right now is left
        // to it, and once that claim commits its lease excludes the row here
        // (PostgreSQL re-checks the condition on the locked row's newest
        // version). `of d`: the webhook row is only read.
        sqlx::query_scalar(
            "update deliveries set lease_until = $1, updated_at = $2 where delivery_seq in ( \
               select d.delivery_seq from deliveries d \
               left join webhooks w on w.webhook_id = d.webhook_id \
               where d.status = 'pending' and d.next_attempt_at <= $2 \
                 and (d.lease_until is null or d.lease_until <= $2) \
                 and (d.channel = 'email' or w.enabled or d.operator_webhook_id is not null) \
               order by d.next_attempt_at, d.delivery_seq limit $3 \
               for update of d skip locked) \
             returning delivery_id",
        )
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut **tx)
        .await
        .map_err(db)
    }

    async fn each_key_credential(
        store: &PgStore,
        f: &mut (dyn FnMut(KeyCredential) + Send),
    ) -> Result<()> {
        for k in store.all_keys().await? {
            f(KeyCredential::from(&k));
        }
        Ok(())
    }
}
