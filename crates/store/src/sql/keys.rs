//! API keys.

use keygate_core::crypto::Digest;
use keygate_core::network::Networks;
use keygate_core::{ClientId, EventId, OrgId};
use sqlx::Transaction;

use super::rows::{key_row, networks_json, scope_json};
use super::{Sql, SqlStore, conflict, db, found};
use crate::{AuditEvent, Change, KeyEdit, KeyRecord, Result, StoreError};

// Column lists as macros so queries stay `&'static str` (sqlx refuses SQL built at run time).
macro_rules! key_columns {
    () => {
        "client_id, org_id, kind, owner_id, name, secret_hash, generation, scope, created_at, updated_at, \
         allowed_networks"
    };
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
        sqlx::query(concat!(
            "insert into api_keys (",
            key_columns!(),
            ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
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
        .bind(networks_json(&key.allowed_networks).as_deref())
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
        secret_hash: &Digest,
        allowed_networks: Option<&Networks>,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord> {
        // The row lock is taken last, so concurrent regenerates of one key
        // wait on each other for two round trips (update, commit), not four.
        let mut tx = self.begin().await?;
        Self::insert_audit(&mut tx, audit).await?;
        DB::changed(&mut tx, &Change::Key(client_id.clone())).await?;
        let row = sqlx::query(concat!(
            "update api_keys set secret_hash = $1, generation = generation + 1, updated_at = $2, \
             allowed_networks = case when $5 then $6 else allowed_networks end \
             where org_id = $3 and client_id = $4 returning ",
            key_columns!()
        ))
        .bind(secret_hash.to_hex().as_str())
        .bind(now)
        .bind(org_id.as_str())
        .bind(client_id.as_str())
        .bind(allowed_networks.is_some())
        .bind(allowed_networks.and_then(networks_json).as_deref())
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
        let row = sqlx::query(concat!(
            "update api_keys set name = $1, scope = $2, updated_at = $3, allowed_networks = $6 \
             where org_id = $4 and client_id = $5 and kind = 'scoped' returning ",
            key_columns!()
        ))
        .bind(edit.name)
        .bind(scope_json(edit.scope)?.as_str())
        .bind(now)
        .bind(org_id.as_str())
        .bind(client_id.as_str())
        .bind(networks_json(edit.allowed_networks).as_deref())
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
}
