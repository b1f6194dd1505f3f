//! Organizations' rules for their keys: the key policy (`key_policies`, one
//! row per organization that set one) and the default rate limit (columns of
//! `orgs`).

use keygate_core::policy::KeyPolicy;
use keygate_core::{OrgId, RateLimit};

use super::rows::{Get, corrupt, parse_id, rate_limit_row};
use super::{Sql, SqlStore, db, found};
use crate::{AuditEvent, Change, Result, StoreError};

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

    /// The default rate limit of an organization's keys, if it has one.
    pub(crate) async fn org_rate_limit(&self, org_id: &OrgId) -> Result<Option<RateLimit>> {
        // Through the writer, like `key_by_client_id`: a refresh right after
        // the change must see it.
        let row = sqlx::query(
            "select rate_limit_requests, rate_limit_seconds from orgs where org_id = $1",
        )
        .bind(org_id.as_str())
        .fetch_optional(&self.write)
        .await
        .map_err(db::<DB>)?
        .ok_or(StoreError::NotFound)?;
        rate_limit_row(&row)
    }

    /// Every organization that has a default rate limit.
    pub(crate) async fn org_rate_limits(&self) -> Result<Vec<(OrgId, RateLimit)>> {
        let rows = sqlx::query(
            "select org_id, rate_limit_requests, rate_limit_seconds from orgs \
             where rate_limit_requests is not null",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            if let Some(l) = rate_limit_row(r)? {
                out.push((parse_id(&r.text("org_id")?)?, l));
            }
        }
        Ok(out)
    }

    /// Sets or clears an organization's default rate limit.
    pub(crate) async fn set_org_rate_limit(
        &self,
        org_id: &OrgId,
        rate_limit: Option<RateLimit>,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "update orgs set rate_limit_requests = $1, rate_limit_seconds = $2, updated_at = $3 \
             where org_id = $4",
        )
        .bind(rate_limit.map(|l| i64::from(l.requests)))
        .bind(rate_limit.map(|l| i64::from(l.per_seconds)))
        .bind(audit.occurred_at)
        .bind(org_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        DB::changed(&mut tx, &Change::Org(org_id.clone())).await?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }
}
