//! Audit streams: a cursor per stream over its organization's hash chain
//! (`delivered_seq`), leased by the outbox dispatcher while it sends the
//! events after it, and moved on only from where it was read.

use keygate_core::{AuditStreamId, OrgId};

use super::rows::{Get, parse_id};
use super::{Sql, SqlStore, db, found};
use crate::{AuditEvent, AuditStreamRecord, Result};

/// A stream with its organization's newest seq.
macro_rules! select_streams {
    () => {
        "select s.stream_id, s.org_id, s.url, s.format, s.secret_salt, s.delivered_seq, \
         s.attempts, s.next_attempt_at, s.last_error, s.created_at, \
         coalesce(h.seq, 0) as head_seq \
         from audit_streams s left join audit_chain_heads h on h.org_id = s.org_id"
    };
}

fn stream_row(r: &impl Get) -> Result<AuditStreamRecord> {
    Ok(AuditStreamRecord {
        stream_id: parse_id(&r.text("stream_id")?)?,
        org_id: parse_id(&r.text("org_id")?)?,
        url: r.text("url")?,
        format: r.text("format")?,
        secret_salt: r.text("secret_salt")?,
        delivered_seq: r.int("delivered_seq")?,
        attempts: r.int("attempts")?,
        next_attempt_at: r.int("next_attempt_at")?,
        last_error: r.opt_text("last_error")?,
        created_at: r.int("created_at")?,
        head_seq: r.int("head_seq")?,
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
    pub(crate) async fn create_audit_stream(
        &self,
        s: &AuditStreamRecord,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "insert into audit_streams (stream_id, org_id, url, format, secret_salt, \
             delivered_seq, attempts, next_attempt_at, lease_until, last_error, created_at, \
             updated_at) values ($1, $2, $3, $4, $5, 0, 0, $6, null, null, $6, $6)",
        )
        .bind(s.stream_id.as_str())
        .bind(s.org_id.as_str())
        .bind(s.url.as_str())
        .bind(s.format.as_str())
        .bind(s.secret_salt.as_str())
        .bind(s.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }

    pub(crate) async fn audit_streams(&self, org_id: &OrgId) -> Result<Vec<AuditStreamRecord>> {
        sqlx::query(concat!(
            select_streams!(),
            " where s.org_id = $1 order by s.created_at, s.stream_id"
        ))
        .bind(org_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(stream_row)
        .collect()
    }

    pub(crate) async fn delete_audit_stream(
        &self,
        org_id: &OrgId,
        stream_id: &AuditStreamId,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("delete from audit_streams where org_id = $1 and stream_id = $2")
            .bind(org_id.as_str())
            .bind(stream_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }

    /// Leases streams that lag and are due until `lease_until`; one claimer
    /// at a time gets each (the lease is taken with a conditional update).
    pub(crate) async fn claim_audit_streams(
        &self,
        now: i64,
        limit: u32,
        lease_until: i64,
    ) -> Result<Vec<AuditStreamRecord>> {
        let due = sqlx::query(concat!(
            select_streams!(),
            " where coalesce(h.seq, 0) > s.delivered_seq \
             and s.next_attempt_at <= $1 and (s.lease_until is null or s.lease_until <= $1) \
             order by s.next_attempt_at, s.stream_id limit $2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(stream_row)
        .collect::<Result<Vec<_>>>()?;
        let mut claimed = Vec::new();
        for s in due {
            let done = sqlx::query(
                "update audit_streams set lease_until = $1 where stream_id = $2 \
                 and delivered_seq = $3 and (lease_until is null or lease_until <= $4)",
            )
            .bind(lease_until)
            .bind(s.stream_id.as_str())
            .bind(s.delivered_seq)
            .bind(now)
            .execute(&self.write)
            .await
            .map_err(db::<DB>)?;
            if DB::rows_affected(&done) == 1 {
                claimed.push(s);
            }
        }
        Ok(claimed)
    }

    /// The receiver took the events up to `to_seq`: the stream moves on from
    /// `from_seq` (only if it is still there) and its lease ends.
    pub(crate) async fn audit_stream_sent(
        &self,
        stream_id: &AuditStreamId,
        from_seq: i64,
        to_seq: i64,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "update audit_streams set delivered_seq = $1, attempts = 0, last_error = null, \
             lease_until = null, next_attempt_at = $2, updated_at = $2 \
             where stream_id = $3 and delivered_seq = $4",
        )
        .bind(to_seq)
        .bind(now)
        .bind(stream_id.as_str())
        .bind(from_seq)
        .execute(&self.write)
        .await
        .map_err(db::<DB>)?;
        Ok(DB::rows_affected(&done) == 1)
    }

    /// A failed attempt: its error is kept and the next one waits.
    pub(crate) async fn audit_stream_failed(
        &self,
        stream_id: &AuditStreamId,
        error: &str,
        next_attempt_at: i64,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "update audit_streams set attempts = attempts + 1, last_error = $1, \
             lease_until = null, next_attempt_at = $2, updated_at = $3 where stream_id = $4",
        )
        .bind(error)
        .bind(next_attempt_at)
        .bind(now)
        .bind(stream_id.as_str())
        .execute(&self.write)
        .await
        .map_err(db::<DB>)?;
        Ok(())
    }
}
