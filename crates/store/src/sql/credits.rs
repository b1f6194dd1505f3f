//! Credits of keys: the instances' counts settled in batches, the reads that
//! bring other instances' use back, and the once-per-period claim of
//! `api_key.credits_exhausted`. None of these is on the change feed: a settle
//! changes no key's terms, only how much of them is left.

use keygate_core::ClientId;

use super::rows::{Get, parse_id};
use super::{Sql, SqlStore, db};
use crate::{AuditEvent, CreditsUse, Result, SettledCredits};

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
    /// Subtracts each use from its key's credits in one transaction (never
    /// below 0), first refilling a key whose refill period the use is in and
    /// the row is not yet. A use of an older setting or an older period than
    /// the row's changes nothing. Returns what each touched key has left.
    pub(crate) async fn settle_credits(&self, uses: &[CreditsUse]) -> Result<Vec<SettledCredits>> {
        let mut tx = self.begin().await?;
        let mut out = Vec::with_capacity(uses.len());
        for u in uses {
            let row = sqlx::query(
                "update api_keys set \
                 credits_remaining = case \
                   when (case when credits_period_start < $2 then credits_refill_amount \
                         else credits_remaining end) > $3 \
                   then (case when credits_period_start < $2 then credits_refill_amount \
                         else credits_remaining end) - $3 \
                   else 0 end, \
                 credits_period_start = case when credits_period_start < $2 then $2 \
                   else credits_period_start end \
                 where client_id = $1 and credits_set_at = $4 and credits_remaining is not null \
                 and credits_period_start <= $2 \
                 returning client_id, credits_remaining, credits_period_start, credits_set_at",
            )
            .bind(u.client_id.as_str())
            .bind(u.period_start)
            .bind(u.used)
            .bind(u.set_at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db::<DB>)?;
            if let Some(r) = row {
                out.push(settled_row(&r)?);
            }
        }
        tx.commit().await.map_err(db::<DB>)?;
        Ok(out)
    }

    /// What every key with credits has left, as last settled by any instance.
    pub(crate) async fn key_credits(&self) -> Result<Vec<SettledCredits>> {
        sqlx::query(
            "select client_id, credits_remaining, credits_period_start, credits_set_at \
             from api_keys where credits_remaining is not null",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(settled_row)
        .collect()
    }

    /// Claims `api_key.credits_exhausted` for the key's setting or period
    /// `mark` and writes `audit` (and its outbox rows) in the same
    /// transaction; false, and nothing written, when it was claimed before.
    pub(crate) async fn claim_credits_exhausted(
        &self,
        client_id: &ClientId,
        mark: i64,
        audit: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "update api_keys set credits_exhausted_mark = $2 where client_id = $1 \
             and credits_remaining is not null \
             and (credits_exhausted_mark is null or credits_exhausted_mark < $2)",
        )
        .bind(client_id.as_str())
        .bind(mark)
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        Self::audit_and_commit_if_touched(tx, &done, audit).await
    }
}

fn settled_row(r: &impl Get) -> Result<SettledCredits> {
    Ok(SettledCredits {
        client_id: parse_id(&r.text("client_id")?)?,
        remaining: r.int("credits_remaining")?,
        period_start: r.opt_int("credits_period_start")?.unwrap_or(0),
        set_at: r.opt_int("credits_set_at")?.unwrap_or(0),
    })
}
