//! Leaked keys (secret scanning): the key a reported secret belongs to, its
//! revocation or its exposed flag, and what each organization does with a
//! live key reported leaked (`orgs.on_leak`).

use keygate_core::crypto::Digest;
use keygate_core::{ClientId, OnLeak, OrgId};

use super::rows::{Get, corrupt, key_columns, key_row};
use super::{Sql, SqlStore, db, found};
use crate::{AuditEvent, Change, KeyRecord, Result, StoreError};

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
    /// The key whose current secret, or previous secret during a grace
    /// period, has this digest (leaked-key reports name a secret, not a
    /// client id).
    pub(crate) async fn key_by_secret_hash(
        &self,
        secret_hash: &Digest,
    ) -> Result<Option<KeyRecord>> {
        sqlx::query(concat!(
            "select ",
            key_columns!(),
            " from api_keys where secret_hash = $1 union all select ",
            key_columns!(),
            " from api_keys where previous_secret_hash = $1"
        ))
        .bind(secret_hash.to_hex().as_str())
        .fetch_optional(&self.write)
        .await
        .map_err(db::<DB>)?
        .map(|r| key_row(&r))
        .transpose()
    }

    /// Deletes a key of either kind reported leaked, if its secret is still
    /// `secret_hash` (a regenerate since made the leaked secret worthless).
    /// False, with nothing written, when there was no such key (already
    /// revoked by an earlier report, or regenerated).
    pub(crate) async fn revoke_exposed_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        secret_hash: &Digest,
        audit: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "delete from api_keys where org_id = $1 and client_id = $2 and secret_hash = $3",
        )
        .bind(org_id.as_str())
        .bind(client_id.as_str())
        .bind(secret_hash.to_hex().as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        if DB::rows_affected(&done) == 0 {
            return Ok(false);
        }
        DB::changed(&mut tx, &Change::Key(client_id.clone())).await?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await?;
        Ok(true)
    }

    /// Marks a key reported leaked as exposed (it keeps working), if its
    /// secret is still `secret_hash` and it is not marked already. False, with
    /// nothing written, otherwise.
    pub(crate) async fn flag_exposed_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        secret_hash: &Digest,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "update api_keys set exposed_at = $1, updated_at = $1 where org_id = $2 \
             and client_id = $3 and secret_hash = $4 and exposed_at is null",
        )
        .bind(now)
        .bind(org_id.as_str())
        .bind(client_id.as_str())
        .bind(secret_hash.to_hex().as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        Self::audit_and_commit_if_touched(tx, &done, audit).await
    }

    /// What the organization does with a live key reported leaked.
    pub(crate) async fn on_leak(&self, org_id: &OrgId) -> Result<OnLeak> {
        let row = sqlx::query("select on_leak from orgs where org_id = $1")
            .bind(org_id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db::<DB>)?
            .ok_or(StoreError::NotFound)?;
        OnLeak::parse(&row.text("on_leak")?, "on_leak").map_err(|_| corrupt("on_leak"))
    }

    pub(crate) async fn set_on_leak(
        &self,
        org_id: &OrgId,
        on_leak: OnLeak,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("update orgs set on_leak = $1, updated_at = $2 where org_id = $3")
            .bind(on_leak.as_str())
            .bind(audit.occurred_at)
            .bind(org_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }
}
