//! Webhooks and the notification outbox on PostgreSQL: the same rows as on
//! SQLite (`outbox` decides what goes in), claimed by the dispatchers of every
//! instance with `for update skip locked` so each row goes to one of them.

use keygate_core::{DeliveryId, OrgId, WebhookId};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::rows::{db, parse_id};
use super::{PgStore, insert_audit};
use crate::outbox::{self, EMAIL_ROLES, RETRY_WINDOW_MS};
use crate::{
    AttemptOutcome, AttemptRecord, AuditEvent, DeliveryQuery, DeliveryRecord, DeliveryStatus,
    DeliveryTarget, DueDelivery, Result, StoreError, WebhookRecord,
};

macro_rules! webhook_columns {
    () => {
        "webhook_id, org_id, url, events, enabled, secret_salt, created_at, updated_at"
    };
}
macro_rules! delivery_columns {
    () => {
        "d.delivery_seq, d.delivery_id, d.event_id, e.name as event_name, d.org_id, d.channel, \
         d.webhook_id, d.recipient, d.status, d.attempts, d.next_attempt_at, d.give_up_at, \
         d.created_at, d.updated_at"
    };
}

/// Writes the notification of a key event and its deliveries, inside the
/// transaction of the change itself.
pub(super) async fn insert_outbox(
    tx: &mut Transaction<'static, Postgres>,
    e: &AuditEvent,
) -> Result<()> {
    let (Some(payload), Some(org_id)) = (outbox::event_payload(e), e.org_id.as_ref()) else {
        return Ok(());
    };
    let now = e.occurred_at;
    sqlx::query(
        "insert into notification_events (event_id, org_id, name, payload, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.event_id.as_str())
    .bind(org_id.as_str())
    .bind(&e.action)
    .bind(&payload)
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    let hooks = sqlx::query(
        "select webhook_id, events from webhooks where org_id = $1 and enabled \
         order by created_at, webhook_id",
    )
    .bind(org_id.as_str())
    .fetch_all(&mut **tx)
    .await
    .map_err(db)?
    .iter()
    .map(|h| {
        Ok((
            h.try_get::<String, _>("webhook_id").map_err(db)?,
            events_of(&h.try_get::<String, _>("events").map_err(db)?)?,
        ))
    })
    .collect::<Result<Vec<_>>>()?;
    let emails: Vec<String> = sqlx::query_scalar(
        "select u.email from memberships m join users u on u.user_id = m.user_id \
         where m.org_id = $1 and m.role in ($2, $3, $4) order by u.email",
    )
    .bind(org_id.as_str())
    .bind(EMAIL_ROLES[0].as_str())
    .bind(EMAIL_ROLES[1].as_str())
    .bind(EMAIL_ROLES[2].as_str())
    .fetch_all(&mut **tx)
    .await
    .map_err(db)?;
    for target in outbox::targets(&e.action, hooks, emails) {
        let (channel, webhook_id, recipient) = target.columns();
        sqlx::query(
            "insert into deliveries (delivery_id, event_id, org_id, channel, webhook_id, \
             recipient, status, attempts, next_attempt_at, lease_until, give_up_at, created_at, \
             updated_at) values ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, null, $8, $7, $7)",
        )
        .bind(DeliveryId::generate().as_str())
        .bind(e.event_id.as_str())
        .bind(org_id.as_str())
        .bind(channel)
        .bind(webhook_id)
        .bind(recipient)
        .bind(now)
        .bind(now + RETRY_WINDOW_MS)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    }
    Ok(())
}

fn events_of(json: &str) -> Result<Vec<String>> {
    serde_json::from_str(json).map_err(|_| StoreError::Internal("corrupt webhook events".into()))
}

fn events_json(events: &[String]) -> String {
    serde_json::Value::from(events.to_vec()).to_string()
}

fn webhook_row(r: &PgRow) -> Result<WebhookRecord> {
    Ok(WebhookRecord {
        webhook_id: parse_id(&r.try_get::<String, _>("webhook_id").map_err(db)?)?,
        org_id: parse_id(&r.try_get::<String, _>("org_id").map_err(db)?)?,
        url: r.try_get("url").map_err(db)?,
        events: events_of(&r.try_get::<String, _>("events").map_err(db)?)?,
        enabled: r.try_get("enabled").map_err(db)?,
        secret_salt: r.try_get("secret_salt").map_err(db)?,
        created_at: r.try_get("created_at").map_err(db)?,
        updated_at: r.try_get("updated_at").map_err(db)?,
    })
}

fn delivery_row(r: &PgRow) -> Result<DeliveryRecord> {
    let corrupt = |what: &str| StoreError::Internal(format!("corrupt delivery {what}"));
    let target = match r.try_get::<String, _>("channel").map_err(db)?.as_str() {
        "webhook" => DeliveryTarget::Webhook(parse_id(
            &r.try_get::<Option<String>, _>("webhook_id")
                .map_err(db)?
                .ok_or_else(|| corrupt("webhook"))?,
        )?),
        "email" => DeliveryTarget::Email(
            r.try_get::<Option<String>, _>("recipient")
                .map_err(db)?
                .ok_or_else(|| corrupt("recipient"))?,
        ),
        _ => return Err(corrupt("channel")),
    };
    Ok(DeliveryRecord {
        seq: r.try_get("delivery_seq").map_err(db)?,
        delivery_id: parse_id(&r.try_get::<String, _>("delivery_id").map_err(db)?)?,
        event_id: parse_id(&r.try_get::<String, _>("event_id").map_err(db)?)?,
        event_name: r.try_get("event_name").map_err(db)?,
        org_id: parse_id(&r.try_get::<String, _>("org_id").map_err(db)?)?,
        target,
        status: DeliveryStatus::parse(&r.try_get::<String, _>("status").map_err(db)?)
            .ok_or_else(|| corrupt("status"))?,
        attempts: u32::try_from(r.try_get::<i64, _>("attempts").map_err(db)?)
            .map_err(|_| corrupt("attempts"))?,
        next_attempt_at: r.try_get("next_attempt_at").map_err(db)?,
        give_up_at: r.try_get("give_up_at").map_err(db)?,
        created_at: r.try_get("created_at").map_err(db)?,
        updated_at: r.try_get("updated_at").map_err(db)?,
        attempt_log: Vec::new(),
    })
}

fn attempt_row(r: &PgRow) -> Result<AttemptRecord> {
    Ok(AttemptRecord {
        attempt: u32::try_from(r.try_get::<i64, _>("attempt").map_err(db)?).unwrap_or(0),
        started_at: r.try_get("started_at").map_err(db)?,
        ok: r.try_get("ok").map_err(db)?,
        status_code: r
            .try_get::<Option<i64>, _>("status_code")
            .map_err(db)?
            .and_then(|c| u16::try_from(c).ok()),
        latency_ms: r.try_get("latency_ms").map_err(db)?,
        error: r.try_get("error").map_err(db)?,
    })
}

impl PgStore {
    pub(super) async fn create_webhook_impl(
        &self,
        w: &WebhookRecord,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.tx().await?;
        sqlx::query(concat!(
            "insert into webhooks (",
            webhook_columns!(),
            ") values ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(w.webhook_id.as_str())
        .bind(w.org_id.as_str())
        .bind(&w.url)
        .bind(events_json(&w.events))
        .bind(w.enabled)
        .bind(&w.secret_salt)
        .bind(w.created_at)
        .bind(w.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    pub(super) async fn webhooks_impl(&self, org_id: &OrgId) -> Result<Vec<WebhookRecord>> {
        sqlx::query(concat!(
            "select ",
            webhook_columns!(),
            " from webhooks where org_id = $1 order by created_at, webhook_id"
        ))
        .bind(org_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(webhook_row)
        .collect()
    }

    pub(super) async fn update_webhook_impl(
        &self,
        w: &WebhookRecord,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.tx().await?;
        let n = sqlx::query(
            "update webhooks set url = $1, events = $2, enabled = $3, secret_salt = $4, \
             updated_at = $5 where org_id = $6 and webhook_id = $7",
        )
        .bind(&w.url)
        .bind(events_json(&w.events))
        .bind(w.enabled)
        .bind(&w.secret_salt)
        .bind(w.updated_at)
        .bind(w.org_id.as_str())
        .bind(w.webhook_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    pub(super) async fn delete_webhook_impl(
        &self,
        org_id: &OrgId,
        webhook_id: &WebhookId,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.tx().await?;
        let n = sqlx::query("delete from webhooks where org_id = $1 and webhook_id = $2")
            .bind(org_id.as_str())
            .bind(webhook_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    pub(super) async fn claim_due_impl(
        &self,
        now: i64,
        limit: u32,
        lease_until: i64,
    ) -> Result<Vec<DueDelivery>> {
        let mut tx = self.tx().await?;
        // `skip locked`: a row another instance is claiming right now is left
        // to it, and once that claim commits its lease excludes the row here
        // (PostgreSQL re-checks the condition on the locked row's newest
        // version). `of d`: the webhook row is only read.
        let ids: Vec<String> = sqlx::query_scalar(
            "update deliveries set lease_until = $1, updated_at = $2 where delivery_seq in ( \
               select d.delivery_seq from deliveries d \
               left join webhooks w on w.webhook_id = d.webhook_id \
               where d.status = 'pending' and d.next_attempt_at <= $2 \
                 and (d.lease_until is null or d.lease_until <= $2) \
                 and (d.channel = 'email' or w.enabled) \
               order by d.next_attempt_at, d.delivery_seq limit $3 \
               for update of d skip locked) \
             returning delivery_id",
        )
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(concat!(
                "select ",
                delivery_columns!(),
                ", e.payload from deliveries d join notification_events e on e.event_id = d.event_id \
                 where d.delivery_id = $1"
            ))
            .bind(&id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            let delivery = delivery_row(&row)?;
            let webhook = match &delivery.target {
                DeliveryTarget::Webhook(w) => sqlx::query(concat!(
                    "select ",
                    webhook_columns!(),
                    " from webhooks where webhook_id = $1"
                ))
                .bind(w.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?
                .map(|r| webhook_row(&r))
                .transpose()?,
                DeliveryTarget::Email(_) => None,
            };
            out.push(DueDelivery {
                delivery,
                payload: row.try_get("payload").map_err(db)?,
                webhook,
            });
        }
        tx.commit().await.map_err(db)?;
        out.sort_by_key(|d| (d.delivery.next_attempt_at, d.delivery.seq));
        Ok(out)
    }

    pub(super) async fn record_attempt_impl(
        &self,
        delivery_id: &DeliveryId,
        a: &AttemptRecord,
        outcome: AttemptOutcome,
    ) -> Result<()> {
        let mut tx = self.tx().await?;
        let now = a.started_at + a.latency_ms;
        let (status, next) = match outcome {
            AttemptOutcome::Delivered => (DeliveryStatus::Delivered, now),
            AttemptOutcome::RetryAt(t) => (DeliveryStatus::Pending, t),
            AttemptOutcome::GiveUp => (DeliveryStatus::Failed, now),
        };
        let n = sqlx::query(
            "update deliveries set status = $1, attempts = greatest(attempts, $2), \
             next_attempt_at = $3, lease_until = null, updated_at = $4 where delivery_id = $5",
        )
        .bind(status.as_str())
        .bind(i64::from(a.attempt))
        .bind(next)
        .bind(now)
        .bind(delivery_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n > 0 {
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
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    pub(super) async fn deliveries_impl(&self, q: &DeliveryQuery) -> Result<Vec<DeliveryRecord>> {
        read_deliveries(&self.pool, q).await
    }

    pub(super) async fn redeliver_impl(
        &self,
        org_id: &OrgId,
        delivery_id: &DeliveryId,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.tx().await?;
        // `for update`: a dispatcher claiming the row at the same moment waits
        // for this transaction, then sees the fresh state.
        let exists: Option<Option<i64>> = sqlx::query_scalar(
            "select lease_until from deliveries where org_id = $1 and delivery_id = $2 for update",
        )
        .bind(org_id.as_str())
        .bind(delivery_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let refused = match exists {
            None => Some(StoreError::NotFound),
            Some(Some(lease)) if lease > now => Some(StoreError::Conflict(
                "a delivery attempt is in progress; retry when it has finished",
            )),
            Some(_) => None,
        };
        if let Some(e) = refused {
            // Now, not when the pooled connection is next used: until then the
            // row lock would make every dispatcher skip this delivery.
            tx.rollback().await.map_err(db)?;
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
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }
}

async fn read_deliveries(pool: &PgPool, q: &DeliveryQuery) -> Result<Vec<DeliveryRecord>> {
    let rows = sqlx::query(concat!(
        "select ",
        delivery_columns!(),
        " from deliveries d join notification_events e on e.event_id = d.event_id \
         where d.org_id = $1 and ($2::text is null or d.webhook_id = $2) and d.delivery_seq < $3 \
         order by d.delivery_seq desc limit $4"
    ))
    .bind(q.org_id.as_str())
    .bind(q.webhook_id.as_ref().map(|w| w.as_str()))
    .bind(q.before.unwrap_or(i64::MAX))
    .bind(i64::from(q.limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>("delivery_id").map_err(db))
        .collect::<Result<_>>()?;
    // All attempts of the page in one query.
    let attempts = sqlx::query(
        "select delivery_id, attempt, started_at, ok, status_code, latency_ms, error \
         from delivery_attempts where delivery_id = any($1) order by delivery_id, attempt",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut d = delivery_row(r)?;
        d.attempt_log = attempts
            .iter()
            .filter(|a| {
                a.try_get::<String, _>("delivery_id")
                    .is_ok_and(|id| id == d.delivery_id.as_str())
            })
            .map(attempt_row)
            .collect::<Result<_>>()?;
        out.push(d);
    }
    Ok(out)
}
