//! The embedded default: one SQLite file in WAL mode.
//!
//! Writes go through a pool of one connection, so SQLite's single writer never
//! answers "database is locked" under concurrent changes; reads use several.
//! The queries are the shared ones of `crate::sql`; this file keeps what is
//! SQLite's own: opening, migrations, backups, claiming, and the streamed
//! load of every key.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keygate_core::RateLimit;
use keygate_core::credits::{Credits, Refill};
use keygate_core::crypto::Digest;
use keygate_core::permission::KeyScope;
use keygate_core::quota::Period;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions as _, Connection as _, Row as _, Sqlite, Transaction};

use crate::sql::rows::{corrupt, parse_id, parse_networks, parse_scope};
use crate::sql::{Sql, SqlStore, db, unavailable};
use crate::{Change, ChangeFeed, KeyCredential, PreviousSecret, Result, StoreError};

/// The store on SQLite.
pub type SqliteStore = SqlStore<Sqlite>;

/// The SQLite migrations, built into the binary.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

impl SqlStore<Sqlite> {
    /// Opens (creating if needed) the database at `url` (`sqlite://path`) and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let store = Self::open_unmigrated(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens (creating if needed) the database at `url` and leaves its schema
    /// as it is: see `Store::pending_migrations` and `Store::migrate`.
    pub async fn open_unmigrated(url: &str) -> Result<SqliteStore> {
        let opts = options(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .map_err(unavailable)?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.read_only(true))
            .await
            .map_err(unavailable)?;
        Ok(SqlStore { read, write })
    }

    /// The migration versions this backend knows, for comparing backends.
    pub fn migration_versions() -> Vec<i64> {
        MIGRATOR.iter().map(|m| m.version).collect()
    }

    /// Writes a consistent copy of the database at `url` into `to`, which must
    /// be missing or an empty file (the caller creates it, with the mode it
    /// wants). `VACUUM INTO` reads one snapshot in one read transaction: the
    /// server may go on writing meanwhile, and nothing here writes to `url`
    /// (its schema is left as it is, migrated or not).
    pub async fn backup(url: &str, to: &Path) -> Result<()> {
        let to = to
            .to_str()
            .ok_or_else(|| StoreError::Internal("the backup path is not UTF-8".into()))?;
        let mut conn = options(url)?
            .read_only(true)
            .connect()
            .await
            .map_err(unavailable)?;
        sqlx::query("vacuum into $1")
            .bind(to)
            .execute(&mut conn)
            .await
            .map_err(db::<Sqlite>)?;
        conn.close().await.map_err(db::<Sqlite>)?;
        Ok(())
    }

    /// Reads the SQLite file at `path` without changing it and says whether it
    /// is a whole Keygate database this build can open: `PRAGMA
    /// integrity_check` passes, its migrations are this build's (none newer,
    /// none changed). `Internal` with a sentence for the operator otherwise.
    pub async fn check_backup(path: &Path) -> Result<BackupInfo> {
        let bad = |m: String| StoreError::Internal(m);
        let mut conn = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .connect()
            .await
            .map_err(|e| bad(format!("cannot open it as SQLite: {e}")))?;
        let integrity: Vec<String> = sqlx::query_scalar("pragma integrity_check")
            .fetch_all(&mut conn)
            .await
            .map_err(|e| bad(format!("not a SQLite database: {e}")))?;
        if integrity != ["ok"] {
            let first = integrity.first().cloned().unwrap_or_default();
            return Err(bad(format!("the integrity check failed: {first}")));
        }
        let has_table: i64 = sqlx::query_scalar(Sqlite::MIGRATIONS_TABLE)
            .fetch_one(&mut conn)
            .await
            .map_err(db::<Sqlite>)?;
        if has_table == 0 {
            return Err(bad(
                "not a Keygate database: it has no _sqlx_migrations table".into(),
            ));
        }
        let applied: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("select version, checksum from _sqlx_migrations where success")
                .fetch_all(&mut conn)
                .await
                .map_err(db::<Sqlite>)?;
        for (version, checksum) in &applied {
            match MIGRATOR.iter().find(|m| m.version == *version) {
                None => {
                    return Err(bad(format!(
                        "written by a newer Keygate: this build does not know its migration {version:04}"
                    )));
                }
                Some(m) if *m.checksum != checksum[..] => {
                    return Err(bad(format!(
                        "its migration {version:04} is not this build's (changed since)"
                    )));
                }
                Some(_) => {}
            }
        }
        let not_keygate = |e: sqlx::Error| bad(format!("not a Keygate database: {e}"));
        let orgs: i64 = sqlx::query_scalar("select count(*) from orgs")
            .fetch_one(&mut conn)
            .await
            .map_err(not_keygate)?;
        let keys: i64 = sqlx::query_scalar("select count(*) from api_keys")
            .fetch_one(&mut conn)
            .await
            .map_err(not_keygate)?;
        conn.close().await.map_err(db::<Sqlite>)?;
        Ok(BackupInfo {
            migrations: applied.len(),
            orgs,
            keys,
        })
    }
}

/// What `SqliteStore::check_backup` found in a backup file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// How many migrations it has had.
    pub migrations: usize,
    pub orgs: i64,
    pub keys: i64,
}

/// The connection options of `url`, with the timeout every connection here
/// waits for SQLite's lock.
fn options(url: &str) -> Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Internal(format!("bad SQLite URL: {e}")))?
        .busy_timeout(Duration::from_secs(10)))
}

#[async_trait]
impl Sql for Sqlite {
    fn is_unavailable(e: &sqlx::Error) -> bool {
        matches!(
            e,
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
        )
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    // One writer connection: nothing claims in between, no lock needed.
    const LEASE_OF_DELIVERY: &'static str =
        "select lease_until from deliveries where org_id = $1 and delivery_id = $2";
    const INVITER_ROLE: &'static str =
        "select role from memberships where org_id = $1 and user_id = $2";
    const ONE_TRANSACTION_PER_BATCH: bool = true;
    const ONE_POOL: bool = false;
    const MIGRATIONS_TABLE: &'static str = "select count(*) as n from sqlite_master where type = 'table' and name = '_sqlx_migrations'";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn apply_migrations(store: &SqliteStore) -> Result<()> {
        MIGRATOR
            .run(&store.write)
            .await
            .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))
    }

    /// Only this process writes the file: nobody else to tell.
    async fn changed(_: &mut Transaction<'static, Sqlite>, _: &Change) -> Result<()> {
        Ok(())
    }

    async fn subscribe_changes(_: &SqliteStore, _: fn() -> i64) -> Result<Option<ChangeFeed>> {
        Ok(None)
    }

    async fn claim(
        tx: &mut Transaction<'static, Sqlite>,
        now: i64,
        limit: u32,
        lease_until: i64,
    ) -> Result<Vec<String>> {
        // One writer connection: the select and the update cannot interleave
        // with another claim. PostgreSQL adds `for update skip locked` here.
        sqlx::query_scalar(
            "update deliveries set lease_until = $1, updated_at = $2 where delivery_seq in ( \
               select d.delivery_seq from deliveries d \
               left join webhooks w on w.webhook_id = d.webhook_id \
               where d.status = 'pending' and d.next_attempt_at <= $2 \
                 and (d.lease_until is null or d.lease_until <= $2) \
                 and (d.channel = 'email' or w.enabled or d.operator_webhook_id is not null) \
               order by d.next_attempt_at, d.delivery_seq limit $3) \
             returning delivery_id",
        )
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut **tx)
        .await
        .map_err(db::<Sqlite>)
    }

    async fn each_key_credential(
        store: &SqliteStore,
        f: &mut (dyn FnMut(KeyCredential) + Send),
    ) -> Result<()> {
        // Pages in rowid order (the table's own order, so the file is read
        // front to back), so memory stays at one page however many keys there
        // are. SQLite packs each page into one string (fields split by 0x1f,
        // records by 0x1e; neither can occur in ids, hex or JSON text), which
        // saves the driver's per-row cost, the bulk of loading a million keys.
        // Each record is one `concat_ws` (every argument is non-null, so none
        // is skipped): sixteen `||` built sixteen strings per row.
        // Scopes are parsed once per distinct JSON text: a million keys
        // usually share a handful of scopes.
        const PAGE: i64 = 10_000;
        const MAX_INTERNED: usize = 100_000;
        let corrupt_key = || corrupt("key row");
        let mut scopes: HashMap<String, Arc<KeyScope>> = HashMap::new();
        // Keys created together share a scope: the last one is compared
        // before the map is hashed into.
        let mut last_scope: Option<(String, Arc<KeyScope>)> = None;
        let page = |pool: SqlitePool, after: i64| async move {
            sqlx::query(
                "select count(*) as n, max(rowid) as last, group_concat(concat_ws(char(31), \
                 client_id, org_id, secret_hash, generation, \
                 coalesce(rate_limit_requests, ''), coalesce(rate_limit_seconds, ''), \
                 coalesce(expires_at, ''), coalesce(previous_secret_hash, ''), \
                 coalesce(previous_secret_expires_at, ''), coalesce(allowed_networks, ''), \
                 require_dpop, coalesce(credits_remaining, ''), \
                 coalesce(credits_refill_amount, ''), coalesce(credits_refill_period, ''), \
                 coalesce(credits_period_start, ''), coalesce(credits_set_at, ''), scope), \
                 char(30)) as recs from (select rowid, client_id, org_id, secret_hash, generation, \
                 rate_limit_requests, rate_limit_seconds, \
                 expires_at, previous_secret_hash, previous_secret_expires_at, \
                 allowed_networks, require_dpop, credits_remaining, credits_refill_amount, \
                 credits_refill_period, credits_period_start, credits_set_at, scope from api_keys where rowid > $1 order by rowid limit $2)",
            )
            .bind(after)
            .bind(PAGE)
            .fetch_one(&pool)
            .await
            .map_err(db::<Sqlite>)
        };
        let mut next_page = tokio::spawn(page(store.read.clone(), i64::MIN));
        loop {
            let row = next_page
                .await
                .map_err(|e| StoreError::Internal(e.to_string()))??;
            // SQLite reads the next page while this one is parsed.
            let last: Option<i64> = row.try_get("last").map_err(db::<Sqlite>)?;
            next_page = tokio::spawn(page(store.read.clone(), last.unwrap_or(i64::MAX)));
            let n: i64 = row.try_get("n").map_err(db::<Sqlite>)?;
            if n == 0 {
                return Ok(());
            }
            let recs: &str = row.try_get("recs").map_err(db::<Sqlite>)?;
            for rec in recs.split('\u{1e}') {
                // The scope comes last: it is the only field that is free text.
                let mut fields = Fields(rec);
                let mut next = || fields.next().ok_or_else(corrupt_key);
                let (client_id, org_id, hash, generation) = (next()?, next()?, next()?, next()?);
                let (requests, seconds) = (next()?, next()?);
                let (expires_at, previous_hash, previous_expires_at) = (next()?, next()?, next()?);
                let (networks, require_dpop) = (next()?, next()?);
                let (remaining, amount, period) = (next()?, next()?, next()?);
                let (period_start, set_at) = (next()?, next()?);
                let text = fields.0;
                let opt_int = |s: &str| -> Result<Option<i64>> {
                    match s {
                        "" => Ok(None),
                        s => s.parse().map(Some).map_err(|_| corrupt_key()),
                    }
                };
                let scope = match &last_scope {
                    Some((last, s)) if last == text => s.clone(),
                    _ => {
                        let s = match scopes.get(text) {
                            Some(s) => s.clone(),
                            None => {
                                let s = Arc::new(parse_scope(text)?);
                                if scopes.len() < MAX_INTERNED {
                                    scopes.insert(text.to_owned(), s.clone());
                                }
                                s
                            }
                        };
                        last_scope = Some((text.to_owned(), s.clone()));
                        s
                    }
                };
                f(KeyCredential {
                    client_id: parse_id(client_id)?,
                    org_id: parse_id(org_id)?,
                    secret_hash: Digest::from_hex(hash).ok_or_else(corrupt_key)?,
                    generation: generation.parse().map_err(|_| corrupt_key())?,
                    scope,
                    rate_limit: RateLimit::from_columns(
                        requests.parse().ok(),
                        seconds.parse().ok(),
                    ),
                    expires_at: opt_int(expires_at)?,
                    previous_secret: match (previous_hash, opt_int(previous_expires_at)?) {
                        ("", _) | (_, None) => None,
                        (h, Some(expires_at)) => Some(PreviousSecret {
                            secret_hash: Digest::from_hex(h).ok_or_else(corrupt_key)?,
                            expires_at,
                        }),
                    },
                    allowed_networks: match networks {
                        "" => None,
                        n => Some(Arc::new(parse_networks(Some(n))?)),
                    },
                    require_dpop: require_dpop == "1",
                    credits: match opt_int(remaining)? {
                        None => None,
                        Some(remaining) => Some(Arc::new(Credits {
                            remaining,
                            refill: match (opt_int(amount)?, Period::parse(period)) {
                                (Some(amount), Some(period)) => Some(Refill { amount, period }),
                                _ => None,
                            },
                            period_start: opt_int(period_start)?.unwrap_or(0),
                            set_at: opt_int(set_at)?.unwrap_or(0),
                        })),
                    },
                });
            }
            if n < PAGE {
                return Ok(());
            }
        }
    }
}

/// The fields of one record of `each_key_credential`'s page, split at 0x1f
/// byte by byte: fields of a few to a few dozen bytes, where `str::split`'s
/// searcher cost more than the scan. What is left after the last field taken
/// is the record's rest (its scope).
struct Fields<'a>(&'a str);

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let at = self.0.bytes().position(|b| b == 0x1f)?;
        let field = &self.0[..at];
        self.0 = &self.0[at + 1..];
        Some(field)
    }
}
