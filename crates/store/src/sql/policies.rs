//! Organizations' key policies (`key_policies`, one row per organization that
//! set one).

use keygate_core::OrgId;
use keygate_core::policy::KeyPolicy;

use super::rows::{Get, corrupt};
use super::{Sql, SqlStore, db};
use crate::{AuditEvent, Result};

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
    pub(crate) async fn key_policy(&self, org_id: &OrgId) -> Result<KeyPolicy> {
        let Some(row) = sqlx::query(
            "select max_lifetime_days, require_expiry, require_allowed_networks \
             from key_policies where org_id = $1",
        )
        .bind(org_id.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db::<DB>)?
        else {
            return Ok(KeyPolicy::default());
        };
        Ok(KeyPolicy {
            max_lifetime_days: row
                .opt_int("max_lifetime_days")?
                .map(|d| u32::try_from(d).map_err(|_| corrupt("key policy")))
                .transpose()?,
            require_expiry: row.flag("require_expiry")?,
            require_allowed_networks: row.flag("require_allowed_networks")?,
        })
    }

    pub(crate) async fn set_key_policy(
        &self,
        org_id: &OrgId,
        policy: &KeyPolicy,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "insert into key_policies (org_id, max_lifetime_days, require_expiry, \
             require_allowed_networks, created_at, updated_at) values ($1, $2, $3, $4, $5, $5) \
             on conflict (org_id) do update set max_lifetime_days = excluded.max_lifetime_days, \
             require_expiry = excluded.require_expiry, \
             require_allowed_networks = excluded.require_allowed_networks, \
             updated_at = excluded.updated_at",
        )
        .bind(org_id.as_str())
        .bind(policy.max_lifetime_days.map(i64::from))
        .bind(policy.require_expiry)
        .bind(policy.require_allowed_networks)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }
}
