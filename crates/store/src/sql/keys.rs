//! API keys: reads, inserts, regenerates and edits, deletes and lifecycle
//! notices. A leaked key is in `leaks.rs`, an organization's rules for its
//! keys (policy, default rate limit) in `policies.rs`.

use keygate_core::network::Networks;
use keygate_core::{ClientId, EventId, OrgId, RateLimit};
use sqlx::Transaction;

use super::rows::{Get, federation_json, key_columns, key_row, networks_json, scope_json};
use super::{Sql, SqlStore, conflict, db, found};
use crate::{AuditEvent, Change, KeyEdit, KeyNotice, KeyRecord, Result, Rotation, StoreError};

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
    pub(crate) async fn keys(&self, org_id: &OrgId) -> Result<Vec<KeyRecord>> {
        sqlx::query(concat!(
            "select ",
            key_columns!(),
            " from api_keys where org_id = $1 order by created_at, client_id"
        ))
        .bind(org_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(key_row)
        .collect()
    }

    pub(crate) async fn key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
    ) -> Result<Option<KeyRecord>> {
        sqlx::query(concat!(
            "select ",
            key_columns!(),
            " from api_keys where org_id = $1 and client_id = $2"
        ))
        .bind(org_id.as_str())
        .bind(client_id.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db::<DB>)?
        .map(|r| key_row(&r))
        .transpose()
    }

    pub(crate) async fn key_by_client_id(&self, client_id: &ClientId) -> Result<Option<KeyRecord>> {
        // Read through the writer so a refresh right after a commit sees it
        // (on SQLite the readers are other connections).
        sqlx::query(concat!(
            "select ",
            key_columns!(),
            " from api_keys where client_id = $1"
        ))
        .bind(client_id.as_str())
        .fetch_optional(&self.write)
        .await
        .map_err(db::<DB>)?
        .map(|r| key_row(&r))
        .transpose()
    }

    pub(crate) async fn all_keys(&self) -> Result<Vec<KeyRecord>> {
        sqlx::query(concat!("select ", key_columns!(), " from api_keys"))
            .fetch_all(&self.read)
            .await
            .map_err(db::<DB>)?
            .iter()
            .map(key_row)
            .collect()
    }

    async fn insert_key_row(tx: &mut Transaction<'static, DB>, key: &KeyRecord) -> Result<()> {
        let previous_hash = key.previous_secret.map(|p| p.secret_hash.to_hex());
        sqlx::query(concat!(
            "insert into api_keys (",
            key_columns!(),
            ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
             $19, $20, $21, $22, $23, $24)"
        ))
        .bind(key.client_id.as_str())
        .bind(key.org_id.as_str())
        .bind(key.kind.as_str())
        .bind(key.owner_id.as_deref())
        .bind(key.name.as_str())
        .bind(key.secret_hash.to_hex().as_str())
        .bind(key.generation as i64)
        .bind(scope_json(&key.scope)?.as_str())
        .bind(key.created_at)
        .bind(key.updated_at)
        .bind(key.exposed_at)
        .bind(key.rate_limit.map(|l| i64::from(l.requests)))
        .bind(key.rate_limit.map(|l| i64::from(l.per_seconds)))
        .bind(key.expires_at)
        .bind(previous_hash.as_deref())
        .bind(key.previous_secret.map(|p| p.expires_at))
        .bind(networks_json(&key.allowed_networks).as_deref())
        .bind(key.require_dpop)
        .bind(key.credits.map(|c| c.remaining))
        .bind(key.credits.and_then(|c| c.refill).map(|r| r.amount))
        .bind(key.credits.and_then(|c| c.refill).map(|r| r.period.as_str()))
        .bind(key.credits.map(|c| c.period_start))
        .bind(key.credits.map(|c| c.set_at))
        .bind(federation_json(&key.federation)?.as_deref())
        .execute(&mut **tx)
        .await
        .map_err(conflict::<DB>(
            "an admin key already exists for this owner: regenerate it instead",
        ))?;
        DB::changed(tx, &Change::Key(key.client_id.clone())).await
    }

    pub(crate) async fn insert_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        Self::insert_key_row(&mut tx, key).await?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }

    pub(crate) async fn insert_keys(&self, keys: &[KeyRecord], audit: &AuditEvent) -> Result<()> {
        if DB::ONE_TRANSACTION_PER_BATCH {
            let mut tx = self.begin().await?;
            for key in keys {
                Self::insert_key_row(&mut tx, key).await?;
            }
            return Self::audit_and_commit(tx, std::slice::from_ref(audit)).await;
        }
        for (i, key) in keys.iter().enumerate() {
            let mut event = audit.clone();
            if i > 0 {
                event.event_id = EventId::generate();
            }
            self.insert_key(key, &event).await?;
        }
        Ok(())
    }

    pub(crate) async fn regenerate_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        rotation: &Rotation,
        allowed_networks: Option<&Networks>,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord> {
        // The row lock is taken last, so concurrent regenerates of one key
        // wait on each other for two round trips (update, commit), not four.
        // The replaced secret becomes the previous one only with a grace
        // period; any older previous secret dies here (at most two live).
        let mut tx = self.begin().await?;
        Self::insert_audit(&mut tx, audit).await?;
        DB::changed(&mut tx, &Change::Key(client_id.clone())).await?;
        let row = sqlx::query(concat!(
            "update api_keys set secret_hash = $1, generation = generation + 1, updated_at = $2, \
             exposed_at = null, \
             previous_secret_hash = case when $5 is null then null else secret_hash end, \
             previous_secret_expires_at = $5, expires_at = $6, \
             expiry_notice = case when coalesce(expires_at, -1) = coalesce($6, -1) \
               then expiry_notice else 0 end, \
             allowed_networks = case when $7 then $8 else allowed_networks end, \
             rate_limit_requests = $9, rate_limit_seconds = $10 \
             where org_id = $3 and client_id = $4 returning ",
            key_columns!()
        ))
        .bind(rotation.secret_hash.to_hex().as_str())
        .bind(now)
        .bind(org_id.as_str())
        .bind(client_id.as_str())
        .bind(rotation.previous_secret_expires_at)
        .bind(rotation.expires_at)
        .bind(allowed_networks.is_some())
        .bind(allowed_networks.and_then(networks_json).as_deref())
        .bind(rotation.rate_limit.map(|l| i64::from(l.requests)))
        .bind(rotation.rate_limit.map(|l| i64::from(l.per_seconds)))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db::<DB>)?
        .ok_or(StoreError::NotFound)?;
        let key = key_row(&row)?;
        tx.commit().await.map_err(db::<DB>)?;
        Ok(key)
    }

    pub(crate) async fn update_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        edit: &KeyEdit<'_>,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord> {
        let mut tx = self.begin().await?;
        // A new expiry starts its notices over; a previous secret never
        // outlives the key.
        let row = sqlx::query(concat!(
            "update api_keys set name = $1, scope = $2, updated_at = $3, \
             rate_limit_requests = $6, rate_limit_seconds = $7, expires_at = $8, \
             expiry_notice = case when coalesce(expires_at, -1) = coalesce($8, -1) \
               then expiry_notice else 0 end, \
             previous_secret_expires_at = case when $8 is not null \
               and previous_secret_expires_at > $8 then $8 \
               else previous_secret_expires_at end, \
             allowed_networks = $9, require_dpop = $10, \
             credits_remaining = case when $11 then $12 else credits_remaining end, \
             credits_refill_amount = case when $11 then $13 else credits_refill_amount end, \
             credits_refill_period = case when $11 then $14 else credits_refill_period end, \
             credits_period_start = case when $11 then $15 else credits_period_start end, \
             credits_set_at = case when $11 then $16 else credits_set_at end, \
             federation = $17 \
             where org_id = $4 and client_id = $5 and kind = 'scoped' returning ",
            key_columns!()
        ))
        .bind(edit.name)
        .bind(scope_json(edit.scope)?.as_str())
        .bind(now)
        .bind(org_id.as_str())
        .bind(client_id.as_str())
        .bind(edit.rate_limit.map(|l| i64::from(l.requests)))
        .bind(edit.rate_limit.map(|l| i64::from(l.per_seconds)))
        .bind(edit.expires_at)
        .bind(networks_json(edit.allowed_networks).as_deref())
        .bind(edit.require_dpop)
        .bind(edit.credits.is_some())
        .bind(edit.credits.flatten().map(|c| c.remaining))
        .bind(
            edit.credits
                .flatten()
                .and_then(|c| c.refill)
                .map(|r| r.amount),
        )
        .bind(
            edit.credits
                .flatten()
                .and_then(|c| c.refill)
                .map(|r| r.period.as_str()),
        )
        .bind(edit.credits.flatten().map(|c| c.period_start))
        .bind(edit.credits.flatten().map(|c| c.set_at))
        .bind(federation_json(edit.federation)?.as_deref())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db::<DB>)?
        .ok_or(StoreError::NotFound)?;
        let key = key_row(&row)?;
        DB::changed(&mut tx, &Change::Key(client_id.clone())).await?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await?;
        Ok(key)
    }

    /// Sets or clears the rate limit of a key of either kind.
    pub(crate) async fn set_key_rate_limit(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        rate_limit: Option<RateLimit>,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(concat!(
            "update api_keys set rate_limit_requests = $1, rate_limit_seconds = $2, \
             updated_at = $3 where org_id = $4 and client_id = $5 returning ",
            key_columns!()
        ))
        .bind(rate_limit.map(|l| i64::from(l.requests)))
        .bind(rate_limit.map(|l| i64::from(l.per_seconds)))
        .bind(now)
        .bind(org_id.as_str())
        .bind(client_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db::<DB>)?
        .ok_or(StoreError::NotFound)?;
        let key = key_row(&row)?;
        DB::changed(&mut tx, &Change::Key(client_id.clone())).await?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await?;
        Ok(key)
    }

    /// Deletes a scoped key.
    pub(crate) async fn delete_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "delete from api_keys where org_id = $1 and client_id = $2 and kind = 'scoped'",
        )
        .bind(org_id.as_str())
        .bind(client_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        DB::changed(&mut tx, &Change::Key(client_id.clone())).await?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }
    /// Keys with a lifecycle notice due at `now` (see `Store::due_key_notices`).
    pub(crate) async fn due_key_notices(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<(KeyRecord, u8)>> {
        sqlx::query(concat!(
            "select ",
            key_columns!(),
            ", expiry_notice from api_keys \
             where previous_secret_expires_at <= $1 \
                or (expires_at <= $1 + $2 and expiry_notice < 3 and expiry_notice < \
                    case when expires_at <= $1 then 3 when expires_at <= $1 + $3 then 2 \
                    else 1 end) \
             order by client_id limit $4"
        ))
        .bind(now)
        .bind(crate::EXPIRY_WARNINGS_MS[0])
        .bind(crate::EXPIRY_WARNINGS_MS[1])
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(|r| {
            Ok((
                key_row(r)?,
                u8::try_from(r.int("expiry_notice")?).unwrap_or(3),
            ))
        })
        .collect()
    }

    /// Claims one notice with a conditional update and, when this call won
    /// it, writes `audit` (and its outbox rows) in the same transaction.
    pub(crate) async fn claim_key_notice(
        &self,
        client_id: &ClientId,
        notice: &KeyNotice,
        audit: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = match *notice {
            KeyNotice::PreviousSecretExpired { at } => {
                let done = sqlx::query(
                    "update api_keys set previous_secret_hash = null, \
                     previous_secret_expires_at = null \
                     where client_id = $1 and previous_secret_expires_at = $2",
                )
                .bind(client_id.as_str())
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(db::<DB>)?;
                DB::changed(&mut tx, &Change::Key(client_id.clone())).await?;
                done
            }
            KeyNotice::Expiry {
                from,
                to,
                expires_at,
            } => sqlx::query(
                "update api_keys set expiry_notice = $1 \
                 where client_id = $2 and expiry_notice = $3 and expires_at = $4",
            )
            .bind(i64::from(to))
            .bind(client_id.as_str())
            .bind(i64::from(from))
            .bind(expires_at)
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?,
        };
        Self::audit_and_commit_if_touched(tx, &done, audit).await
    }
}
