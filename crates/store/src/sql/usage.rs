//! Usage of keys: the recorder's batches (counts per key and minute, added to
//! the minute and day tables at once; last use per key), reads for the usage
//! API and pages, retention, and the claim of the `*.unused` notice.

use keygate_core::{ClientId, OrgId};

use super::rows::{Get, kind_row, parse_id};
use super::{Sql, SqlStore, db};
use crate::{
    AuditEvent, LastUsed, Result, UnusedKey, UsageBatch, UsageCounts, UsageQuery, UsageTable,
};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

// One statement per table: sqlx wants `&'static str`.
macro_rules! add_counts {
    ($table:literal) => {
        concat!(
            "insert into ",
            $table,
            " (client_id, org_id, bucket_start, allowed, refused_scope, refused_rate_limit, \
             refused_expired, refused_revoked, refused_network) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             on conflict (client_id, bucket_start) do update set \
             allowed = ",
            $table,
            ".allowed + excluded.allowed, refused_scope = ",
            $table,
            ".refused_scope + excluded.refused_scope, refused_rate_limit = ",
            $table,
            ".refused_rate_limit + excluded.refused_rate_limit, refused_expired = ",
            $table,
            ".refused_expired + excluded.refused_expired, refused_revoked = ",
            $table,
            ".refused_revoked + excluded.refused_revoked, refused_network = ",
            $table,
            ".refused_network + excluded.refused_network"
        )
    };
}

// `sum` of a bigint is numeric on PostgreSQL: cast back (SQLite ignores it).
macro_rules! sums {
    () => {
        "cast(sum(allowed) as bigint) as allowed, cast(sum(refused_scope) as bigint) as scope, \
         cast(sum(refused_rate_limit) as bigint) as rate_limit, \
         cast(sum(refused_expired) as bigint) as expired, \
         cast(sum(refused_revoked) as bigint) as revoked, \
         cast(sum(refused_network) as bigint) as network"
    };
}

macro_rules! by_bucket {
    ($table:literal) => {
        concat!(
            "select bucket_start, ",
            sums!(),
            " from ",
            $table,
            " where org_id = $1 and bucket_start >= $2 and bucket_start < $3 \
             and ($4 = '' or client_id = $4) group by bucket_start order by bucket_start"
        )
    };
}

macro_rules! by_key {
    ($table:literal) => {
        concat!(
            "select client_id, ",
            sums!(),
            " from ",
            $table,
            " where org_id = $1 and bucket_start >= $2 and bucket_start < $3 \
             group by client_id"
        )
    };
}

fn counts_row(r: &impl Get) -> Result<UsageCounts> {
    let n = |c: &str| -> Result<u64> { Ok(r.opt_int(c)?.unwrap_or(0).max(0) as u64) };
    Ok(UsageCounts {
        allowed: n("allowed")?,
        scope: n("scope")?,
        rate_limit: n("rate_limit")?,
        expired: n("expired")?,
        revoked: n("revoked")?,
        network: n("network")?,
    })
}

impl<DB: Sql> SqlStore<DB>
where
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::ColumnIndex<DB::Row>,
    for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB>,
    for<'q, 'r> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'q, 'r> bool: sqlx::Encode<'q, DB> + sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    pub(crate) async fn record_usage(&self, batch: &UsageBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for d in &batch.counts {
            let day_start = d.minute_start.div_euclid(DAY_MS) * DAY_MS;
            for (sql, start) in [
                (add_counts!("usage_minutes"), d.minute_start),
                (add_counts!("usage_days"), day_start),
            ] {
                let c = &d.counts;
                sqlx::query(sql)
                    .bind(d.client_id.as_str())
                    .bind(d.org_id.as_str())
                    .bind(start)
                    .bind(c.allowed as i64)
                    .bind(c.scope as i64)
                    .bind(c.rate_limit as i64)
                    .bind(c.expired as i64)
                    .bind(c.revoked as i64)
                    .bind(c.network as i64)
                    .execute(&mut *tx)
                    .await
                    .map_err(db::<DB>)?;
            }
        }
        for u in &batch.last_used {
            // A later use wins; an older one (another instance's late flush) is kept out.
            sqlx::query(
                "insert into key_activity (client_id, org_id, last_used_at, last_used_ip, \
                 unused_notified_at, created_at, updated_at) values ($1, $2, $3, $4, null, $3, $3) \
                 on conflict (client_id) do update set last_used_at = excluded.last_used_at, \
                 last_used_ip = excluded.last_used_ip, updated_at = excluded.updated_at \
                 where key_activity.last_used_at is null \
                 or key_activity.last_used_at < excluded.last_used_at",
            )
            .bind(u.client_id.as_str())
            .bind(u.org_id.as_str())
            .bind(u.at)
            .bind(u.ip.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        }
        tx.commit().await.map_err(db::<DB>)
    }

    pub(crate) async fn usage(&self, q: &UsageQuery) -> Result<Vec<(i64, UsageCounts)>> {
        let sql = match q.table {
            UsageTable::Minutes => by_bucket!("usage_minutes"),
            UsageTable::Days => by_bucket!("usage_days"),
        };
        sqlx::query(sql)
            .bind(q.org_id.as_str())
            .bind(q.from)
            .bind(q.to)
            .bind(q.client_id.as_ref().map_or("", |c| c.as_str()))
            .fetch_all(&self.read)
            .await
            .map_err(db::<DB>)?
            .iter()
            .map(|r| Ok((r.int("bucket_start")?, counts_row(r)?)))
            .collect()
    }

    pub(crate) async fn usage_by_key(
        &self,
        org_id: &OrgId,
        table: UsageTable,
        from: i64,
        to: i64,
    ) -> Result<Vec<(ClientId, UsageCounts)>> {
        let sql = match table {
            UsageTable::Minutes => by_key!("usage_minutes"),
            UsageTable::Days => by_key!("usage_days"),
        };
        sqlx::query(sql)
            .bind(org_id.as_str())
            .bind(from)
            .bind(to)
            .fetch_all(&self.read)
            .await
            .map_err(db::<DB>)?
            .iter()
            .map(|r| Ok((parse_id(&r.text("client_id")?)?, counts_row(r)?)))
            .collect()
    }

    pub(crate) async fn last_used(&self, org_id: &OrgId) -> Result<Vec<LastUsed>> {
        sqlx::query(
            "select client_id, org_id, last_used_at, last_used_ip from key_activity \
             where org_id = $1 and last_used_at is not null",
        )
        .bind(org_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(|r| {
            Ok(LastUsed {
                client_id: parse_id(&r.text("client_id")?)?,
                org_id: parse_id(&r.text("org_id")?)?,
                at: r.opt_int("last_used_at")?.unwrap_or(0),
                ip: r.opt_text("last_used_ip")?.unwrap_or_default(),
            })
        })
        .collect()
    }

    /// Minute rows before `minutes_before`, day rows before `days_before`, and
    /// the activity of keys that no longer exist.
    pub(crate) async fn prune_usage(&self, minutes_before: i64, days_before: i64) -> Result<u64> {
        let mut n = 0;
        for (sql, before) in [
            (
                "delete from usage_minutes where bucket_start < $1",
                minutes_before,
            ),
            (
                "delete from usage_days where bucket_start < $1",
                days_before,
            ),
        ] {
            let done = sqlx::query(sql)
                .bind(before)
                .execute(&self.write)
                .await
                .map_err(db::<DB>)?;
            n += DB::rows_affected(&done);
        }
        let done = sqlx::query(
            "delete from key_activity where client_id not in (select client_id from api_keys)",
        )
        .execute(&self.write)
        .await
        .map_err(db::<DB>)?;
        Ok(n + DB::rows_affected(&done))
    }

    pub(crate) async fn unused_keys(
        &self,
        now: i64,
        idle_before: i64,
        limit: u32,
    ) -> Result<Vec<UnusedKey>> {
        // An expired key is not "unused": it cannot be used, and its expiry
        // had its own events (`*.expiring`, `*.expired`).
        sqlx::query(
            "select k.client_id, k.org_id, k.kind, k.name, k.owner_id, k.created_at, \
             a.last_used_at from api_keys k left join key_activity a on a.client_id = k.client_id \
             where coalesce(a.last_used_at, k.created_at) < $1 \
             and (k.expires_at is null or k.expires_at > $3) \
             and (a.unused_notified_at is null \
                  or a.unused_notified_at < coalesce(a.last_used_at, k.created_at)) \
             order by k.client_id limit $2",
        )
        .bind(idle_before)
        .bind(i64::from(limit))
        .bind(now)
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(|r| {
            Ok(UnusedKey {
                client_id: parse_id(&r.text("client_id")?)?,
                org_id: parse_id(&r.text("org_id")?)?,
                kind: kind_row(r)?,
                name: r.text("name")?,
                owner_id: r.opt_text("owner_id")?,
                created_at: r.int("created_at")?,
                last_used_at: r.opt_int("last_used_at")?,
            })
        })
        .collect()
    }

    /// Marks the key's idle stretch as told about, if it still is idle since
    /// before `idle_before` and nobody marked it yet, and writes `audit` (whose
    /// outbox rows notify) in the same transaction. One conditional update
    /// decides, so of several instances exactly one sends the notice.
    pub(crate) async fn claim_unused(
        &self,
        key: &UnusedKey,
        idle_before: i64,
        audit: &AuditEvent,
    ) -> Result<bool> {
        let now = audit.occurred_at;
        let mut tx = self.begin().await?;
        sqlx::query(
            "insert into key_activity (client_id, org_id, last_used_at, last_used_ip, \
             unused_notified_at, created_at, updated_at) values ($1, $2, null, null, null, $3, $3) \
             on conflict (client_id) do nothing",
        )
        .bind(key.client_id.as_str())
        .bind(key.org_id.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        let done = sqlx::query(
            "update key_activity set unused_notified_at = $1, updated_at = $1 \
             where client_id = $2 and coalesce(last_used_at, $3) < $4 \
             and (unused_notified_at is null or unused_notified_at < coalesce(last_used_at, $3)) \
             and exists (select 1 from api_keys k where k.client_id = $2 \
                         and (k.expires_at is null or k.expires_at > $1))",
        )
        .bind(now)
        .bind(key.client_id.as_str())
        .bind(key.created_at)
        .bind(idle_before)
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        Self::audit_and_commit_if_touched(tx, &done, audit).await
    }
}
