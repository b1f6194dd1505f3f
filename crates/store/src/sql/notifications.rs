//! Webhooks, and the deliveries of the notification outbox: claiming them,
//! recording attempts, listing and redelivering.

use keygate_core::{DeliveryId, OrgId, WebhookId};

use super::rows::{Get, attempt_row, delivery_row, events_json, webhook_row};
use super::{Sql, SqlStore, db, found};
use crate::outbox::RETRY_WINDOW_MS;
use crate::{
    AttemptOutcome, AttemptRecord, AuditEvent, DeliveryQuery, DeliveryRecord, DeliveryStatus,
    DeliveryTarget, DueDelivery, OutboxStats, PoolStats, Result, StoreError, WebhookRecord,
};

macro_rules! webhook_columns {
    () => {
        "webhook_id, org_id, url, events, enabled, secret_salt, created_at, updated_at"
    };
}
macro_rules! delivery_columns {
    () => {
        "d.delivery_seq, d.delivery_id, d.event_id, e.name as event_name, d.org_id, d.channel, \
         coalesce(d.webhook_id, d.operator_webhook_id) as webhook_id, d.recipient, d.status, d.attempts, d.next_attempt_at, d.give_up_at, \
         d.created_at, d.updated_at"
    };
}
/// One page of deliveries (`$1` org, `$2` webhook or null, `$3` before, `$4` limit).
macro_rules! delivery_page {
    () => {
        "from deliveries d join notification_events e on e.event_id = d.event_id \
         where d.org_id = $1 and ($2 is null or d.webhook_id = $2) and d.delivery_seq < $3 \
         order by d.delivery_seq desc limit $4"
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
    pub(crate) async fn create_webhook(&self, w: &WebhookRecord, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(concat!(
            "insert into webhooks (",
            webhook_columns!(),
            ") values ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(w.webhook_id.as_str())
        .bind(w.org_id.as_str())
        .bind(w.url.as_str())
        .bind(events_json(&w.events).as_str())
        .bind(w.enabled)
        .bind(w.secret_salt.as_str())
        .bind(w.created_at)
        .bind(w.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }

    pub(crate) async fn webhooks(&self, org_id: &OrgId) -> Result<Vec<WebhookRecord>> {
        sqlx::query(concat!(
            "select ",
            webhook_columns!(),
            " from webhooks where org_id = $1 order by created_at, webhook_id"
        ))
        .bind(org_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(webhook_row)
        .collect()
    }

    pub(crate) async fn update_webhook(&self, w: &WebhookRecord, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "update webhooks set url = $1, events = $2, enabled = $3, secret_salt = $4, \
             updated_at = $5 where org_id = $6 and webhook_id = $7",
        )
        .bind(w.url.as_str())
        .bind(events_json(&w.events).as_str())
        .bind(w.enabled)
        .bind(w.secret_salt.as_str())
        .bind(w.updated_at)
        .bind(w.org_id.as_str())
        .bind(w.webhook_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }

    pub(crate) async fn delete_webhook(
        &self,
        org_id: &OrgId,
        webhook_id: &WebhookId,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("delete from webhooks where org_id = $1 and webhook_id = $2")
            .bind(org_id.as_str())
            .bind(webhook_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }

    pub(crate) async fn outbox_stats(&self) -> Result<Vec<OutboxStats>> {
        let rows = sqlx::query(
            "select channel, count(*) as n, min(created_at) as oldest from deliveries \
             where status = 'pending' group by channel order by channel",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?;
        rows.iter()
            .map(|r| {
                Ok(OutboxStats {
                    channel: r.text("channel")?,
                    pending: u64::try_from(r.int("n")?).unwrap_or(0),
                    oldest_created_at: r.opt_int("oldest")?,
                })
            })
            .collect()
    }

    pub(crate) fn pool_stats(&self) -> Vec<PoolStats> {
        let one = |pool: &'static str, p: &sqlx::Pool<DB>| PoolStats {
            pool,
            open: p.size(),
            idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
            max: p.options().get_max_connections(),
        };
        if DB::ONE_POOL {
            vec![one("main", &self.write)]
        } else {
            vec![one("read", &self.read), one("write", &self.write)]
        }
    }

    /// Leases due deliveries (the claim itself is per database) and loads them
    /// with their payload and webhook, oldest due first.
    pub(crate) async fn claim_due(
        &self,
        now: i64,
        limit: u32,
        lease_until: i64,
    ) -> Result<Vec<DueDelivery>> {
        let mut tx = self.begin().await?;
        let ids = DB::claim(&mut tx, now, limit, lease_until).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(concat!(
                "select ",
                delivery_columns!(),
                ", e.payload from deliveries d join notification_events e on e.event_id = d.event_id \
                 where d.delivery_id = $1"
            ))
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db::<DB>)?;
            let delivery = delivery_row(&row)?;
            let webhook = match &delivery.target {
                // An organization's webhook, or an operator webhook (of no
                // organization: `outbox::NO_ORG`, spelled out in the query).
                DeliveryTarget::Webhook(w) => sqlx::query(concat!(
                    "select ",
                    webhook_columns!(),
                    " from webhooks where webhook_id = $1 \
                     union all select webhook_id, 'org_0000000000000000000000' as org_id, url, events, true as enabled, \
                     secret_salt, created_at, updated_at from operator_webhooks where webhook_id = $1"
                ))
                .bind(w.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db::<DB>)?
                .map(|r| webhook_row(&r))
                .transpose()?,
                DeliveryTarget::Email(_) => None,
            };
            out.push(DueDelivery {
                delivery,
                payload: row.text("payload")?,
                webhook,
            });
        }
        tx.commit().await.map_err(db::<DB>)?;
        out.sort_by_key(|d| (d.delivery.next_attempt_at, d.delivery.seq));
        Ok(out)
    }

    pub(crate) async fn record_attempt(
        &self,
        delivery_id: &DeliveryId,
        a: &AttemptRecord,
        outcome: AttemptOutcome,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let now = a.started_at + a.latency_ms;
        let (status, next) = match outcome {
            AttemptOutcome::Delivered => (DeliveryStatus::Delivered, now),
            AttemptOutcome::RetryAt(t) => (DeliveryStatus::Pending, t),
            AttemptOutcome::GiveUp => (DeliveryStatus::Failed, now),
        };
        let done = sqlx::query(
            "update deliveries set status = $1, \
             attempts = case when attempts > $2 then attempts else $2 end, \
             next_attempt_at = $3, lease_until = null, updated_at = $4 where delivery_id = $5",
        )
        .bind(status.as_str())
        .bind(i64::from(a.attempt))
        .bind(next)
        .bind(now)
        .bind(delivery_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        if DB::rows_affected(&done) > 0 {
            sqlx::query(
                "insert into delivery_attempts (delivery_id, attempt, started_at, ok, status_code, \
                 latency_ms, error, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                 on conflict (delivery_id, attempt) do nothing",
            )
            .bind(delivery_id.as_str())
            .bind(i64::from(a.attempt))
            .bind(a.started_at)
            .bind(a.ok)
            .bind(a.status_code.map(i64::from))
            .bind(a.latency_ms)
            .bind(a.error.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        }
        tx.commit().await.map_err(db::<DB>)
    }

    /// A page of deliveries, each with its attempts (all of the page's attempts
    /// in one more query).
    pub(crate) async fn deliveries(&self, q: &DeliveryQuery) -> Result<Vec<DeliveryRecord>> {
        let webhook_id = q.webhook_id.as_ref().map(|w| w.as_str());
        let before = q.before.unwrap_or(i64::MAX);
        let rows = sqlx::query(concat!(
            "select ",
            delivery_columns!(),
            " ",
            delivery_page!()
        ))
        .bind(q.org_id.as_str())
        .bind(webhook_id)
        .bind(before)
        .bind(i64::from(q.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?;
        let attempts = sqlx::query(concat!(
            "select delivery_id, attempt, started_at, ok, status_code, latency_ms, error \
             from delivery_attempts where delivery_id in (select d.delivery_id ",
            delivery_page!(),
            ") order by delivery_id, attempt"
        ))
        .bind(q.org_id.as_str())
        .bind(webhook_id)
        .bind(before)
        .bind(i64::from(q.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut d = delivery_row(r)?;
            d.attempt_log = attempts
                .iter()
                .filter(|a| {
                    a.text("delivery_id")
                        .is_ok_and(|id| id == d.delivery_id.as_str())
                })
                .map(attempt_row)
                .collect::<Result<_>>()?;
            out.push(d);
        }
        Ok(out)
    }

    pub(crate) async fn redeliver(
        &self,
        org_id: &OrgId,
        delivery_id: &DeliveryId,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let lease = sqlx::query(DB::LEASE_OF_DELIVERY)
            .bind(org_id.as_str())
            .bind(delivery_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db::<DB>)?
            .map(|r| r.opt_int("lease_until"))
            .transpose()?;
        let refused = match lease {
            None => Some(StoreError::NotFound),
            Some(Some(lease)) if lease > now => Some(StoreError::Conflict(
                "a delivery attempt is in progress; retry when it has finished",
            )),
            Some(_) => None,
        };
        if let Some(e) = refused {
            // Now, not when the pooled connection is next used: until then a
            // row lock would make every dispatcher skip this delivery.
            tx.rollback().await.map_err(db::<DB>)?;
            return Err(e);
        }
        sqlx::query(
            "update deliveries set status = 'pending', next_attempt_at = $1, give_up_at = $2, \
             lease_until = null, updated_at = $1 where delivery_id = $3",
        )
        .bind(now)
        .bind(now + RETRY_WINDOW_MS)
        .bind(delivery_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }
}
