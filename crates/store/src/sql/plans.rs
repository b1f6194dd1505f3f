//! Plans (quotas and a default rate limit) and the claims of
//! `quota.threshold` events.

use keygate_core::OrgId;
use keygate_core::quota::{Period, Plan, Quota};

use super::rows::{Get, corrupt, parse_id, rate_limit_row};
use super::{Sql, SqlStore, db};
use crate::{AuditEvent, Change, PlanRecord, QuotaThreshold, Result, StoreError};

macro_rules! plan_columns {
    () => {
        "p.plan_id, p.name, p.quota_day, p.quota_month, p.rate_limit_requests, \
         p.rate_limit_seconds, p.created_at, p.updated_at"
    };
}

fn plan_row(r: &impl Get) -> Result<PlanRecord> {
    let mut quotas = Vec::new();
    for (period, col) in [(Period::Day, "quota_day"), (Period::Month, "quota_month")] {
        if let Some(n) = r.opt_int(col)? {
            quotas.push(Quota {
                period,
                requests: u32::try_from(n).map_err(|_| corrupt("plan quota"))?,
            });
        }
    }
    Ok(PlanRecord {
        plan: Plan {
            plan_id: r.text("plan_id")?,
            name: r.text("name")?,
            quotas,
            rate_limit: rate_limit_row(r)?,
        },
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
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
    /// Creates or replaces a plan (true: created). The organizations on it
    /// are named on the change feed: their cached quotas and limit change.
    pub(crate) async fn put_plan(&self, p: &PlanRecord) -> Result<bool> {
        let mut tx = self.begin().await?;
        let existed = sqlx::query("select plan_id from plans where plan_id = $1")
            .bind(p.plan.plan_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db::<DB>)?
            .is_some();
        let q = |period| p.plan.quota(period).map(i64::from);
        let sql = if existed {
            "update plans set name = $2, quota_day = $3, quota_month = $4, \
             rate_limit_requests = $5, rate_limit_seconds = $6, updated_at = $7 where plan_id = $1"
        } else {
            "insert into plans (plan_id, name, quota_day, quota_month, rate_limit_requests, \
             rate_limit_seconds, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $7)"
        };
        sqlx::query(sql)
            .bind(p.plan.plan_id.as_str())
            .bind(p.plan.name.as_str())
            .bind(q(Period::Day))
            .bind(q(Period::Month))
            .bind(p.plan.rate_limit.map(|l| i64::from(l.requests)))
            .bind(p.plan.rate_limit.map(|l| i64::from(l.per_seconds)))
            .bind(if existed { p.updated_at } else { p.created_at })
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        let orgs = sqlx::query("select org_id from orgs where plan_id = $1")
            .bind(p.plan.plan_id.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        for r in &orgs {
            DB::changed(&mut tx, &Change::Org(parse_id(&r.text("org_id")?)?)).await?;
        }
        tx.commit().await.map_err(db::<DB>)?;
        Ok(!existed)
    }

    pub(crate) async fn plan(&self, plan_id: &str) -> Result<Option<PlanRecord>> {
        sqlx::query(concat!(
            "select ",
            plan_columns!(),
            " from plans p where p.plan_id = $1"
        ))
        .bind(plan_id)
        .fetch_optional(&self.write)
        .await
        .map_err(db::<DB>)?
        .map(|r| plan_row(&r))
        .transpose()
    }

    pub(crate) async fn plans(&self) -> Result<Vec<PlanRecord>> {
        sqlx::query(concat!(
            "select ",
            plan_columns!(),
            " from plans p order by p.plan_id"
        ))
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(plan_row)
        .collect()
    }

    /// Deletes a plan no organization is on: NotFound, or Conflict while one is.
    pub(crate) async fn delete_plan(&self, plan_id: &str) -> Result<()> {
        let done = sqlx::query(
            "delete from plans where plan_id = $1 \
             and not exists (select 1 from orgs where plan_id = $1)",
        )
        .bind(plan_id)
        .execute(&self.write)
        .await
        .map_err(db::<DB>)?;
        if DB::rows_affected(&done) > 0 {
            return Ok(());
        }
        match self.plan(plan_id).await? {
            Some(_) => Err(StoreError::Conflict(
                "an organization is on this plan; move it to another plan first",
            )),
            None => Err(StoreError::NotFound),
        }
    }

    /// The plan of every organization that is on one (for the cache).
    pub(crate) async fn org_plans(&self) -> Result<Vec<(OrgId, PlanRecord)>> {
        sqlx::query(concat!(
            "select o.org_id, ",
            plan_columns!(),
            " from orgs o join plans p on p.plan_id = o.plan_id"
        ))
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(|r| Ok((parse_id(&r.text("org_id")?)?, plan_row(r)?)))
        .collect()
    }

    /// One organization's plan, through the writer (a refresh right after a
    /// change must see it).
    pub(crate) async fn org_plan(&self, org_id: &OrgId) -> Result<Option<PlanRecord>> {
        sqlx::query(concat!(
            "select ",
            plan_columns!(),
            " from orgs o join plans p on p.plan_id = o.plan_id where o.org_id = $1"
        ))
        .bind(org_id.as_str())
        .fetch_optional(&self.write)
        .await
        .map_err(db::<DB>)?
        .map(|r| plan_row(&r))
        .transpose()
    }

    /// Allowed token checks per organization since `since` (a UTC day start,
    /// Unix ms), from the day table: what the quotas count.
    pub(crate) async fn allowed_since(&self, since: i64) -> Result<Vec<(OrgId, i64)>> {
        sqlx::query(
            "select org_id, cast(sum(allowed) as bigint) as allowed from usage_days \
             where bucket_start >= $1 group by org_id",
        )
        .bind(since)
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(|r| Ok((parse_id(&r.text("org_id")?)?, r.int("allowed")?)))
        .collect()
    }

    /// Claims one threshold and writes its audit event (and outbox rows) in
    /// the same transaction; false, and nothing written, when it was claimed.
    pub(crate) async fn claim_quota_threshold(
        &self,
        t: &QuotaThreshold,
        audit: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "insert into quota_thresholds (org_id, period, period_start, percent, created_at, \
             updated_at) values ($1, $2, $3, $4, $5, $5) \
             on conflict (org_id, period, period_start, percent) do nothing",
        )
        .bind(t.org_id.as_str())
        .bind(t.period.as_str())
        .bind(t.period_start)
        .bind(i64::from(t.percent))
        .bind(audit.occurred_at)
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        Self::audit_and_commit_if_touched(tx, &done, audit).await
    }
}
