//! The audit log, and with each of its writes the notification outbox rows a
//! key event queues (`crate::outbox` decides what goes in).

use keygate_core::{DeliveryId, EventId, OrgId};
use sqlx::Transaction;

use super::rows::{Get, audit_row, events_of, parse_role};
use super::{Sql, SqlStore, db};
use crate::outbox::{self, EMAIL_ROLES, RETRY_WINDOW_MS};
use crate::{AuditEvent, AuditQuery, Result, UserMail};

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
    /// Ends a change: its audit events (with the notifications a key event
    /// queues) go into the same transaction, which then commits.
    pub(crate) async fn audit_and_commit(
        mut tx: Transaction<'static, DB>,
        audit: &[AuditEvent],
    ) -> Result<()> {
        for e in audit {
            Self::insert_audit(&mut tx, e).await?;
        }
        tx.commit().await.map_err(db::<DB>)
    }

    /// Ends a conditional change (a claim, or a write that holds only while
    /// the row is as it was read): when `done` touched no row, the
    /// transaction is rolled back and nothing is written (false); otherwise as
    /// `audit_and_commit` (true).
    pub(crate) async fn audit_and_commit_if_touched(
        tx: Transaction<'static, DB>,
        done: &DB::QueryResult,
        audit: &AuditEvent,
    ) -> Result<bool> {
        if DB::rows_affected(done) == 0 {
            tx.rollback().await.map_err(db::<DB>)?;
            return Ok(false);
        }
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await?;
        Ok(true)
    }

    /// Ends a change that also mails one person or a few (see [`UserMail`]):
    /// the audit events, then one outbox event and one email delivery per mail,
    /// shown under `org` (or no organization), then the commit. A store method
    /// of a change that mails ends with this instead of `audit_and_commit`.
    pub(crate) async fn commit_with_mail(
        mut tx: Transaction<'static, DB>,
        audit: &[AuditEvent],
        mails: &[UserMail],
        org: Option<&OrgId>,
    ) -> Result<()> {
        for e in audit {
            Self::insert_audit(&mut tx, e).await?;
        }
        let now = audit.first().map_or(0, |e| e.occurred_at);
        for m in mails {
            Self::insert_user_mail(&mut tx, m, org, now).await?;
        }
        tx.commit().await.map_err(db::<DB>)
    }

    async fn insert_user_mail(
        tx: &mut Transaction<'static, DB>,
        m: &UserMail,
        org: Option<&OrgId>,
        now: i64,
    ) -> Result<()> {
        let org_id = org.map_or(outbox::NO_ORG, |o| o.as_str());
        let event_id = EventId::generate();
        sqlx::query(
            "insert into notification_events (event_id, org_id, name, payload, created_at, \
             updated_at) values ($1, $2, $3, $4, $5, $5)",
        )
        .bind(event_id.as_str())
        .bind(org_id)
        .bind(outbox::USER_MAIL)
        .bind(outbox::user_mail_payload(m).as_str())
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(db::<DB>)?;
        sqlx::query(
            "insert into deliveries (delivery_id, event_id, org_id, channel, webhook_id, \
             recipient, status, attempts, next_attempt_at, lease_until, give_up_at, \
             created_at, updated_at) \
             values ($1, $2, $3, 'email', null, $4, 'pending', 0, $5, null, $6, $5, $5)",
        )
        .bind(DeliveryId::generate().as_str())
        .bind(event_id.as_str())
        .bind(org_id)
        .bind(m.to.as_str())
        .bind(now)
        .bind(now + RETRY_WINDOW_MS)
        .execute(&mut **tx)
        .await
        .map_err(db::<DB>)?;
        Ok(())
    }

    pub(crate) async fn insert_audit(
        tx: &mut Transaction<'static, DB>,
        e: &AuditEvent,
    ) -> Result<()> {
        sqlx::query(
            "insert into audit_events (audit_event_id, org_id, occurred_at, actor_user_id, \
             actor_email, client_id, action, source_ip, user_agent, details, created_at, \
             updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $3, $3)",
        )
        .bind(e.event_id.as_str())
        .bind(e.org_id.as_ref().map(|o| o.as_str()))
        .bind(e.occurred_at)
        .bind(e.actor_user_id.as_ref().map(|u| u.as_str()))
        .bind(e.actor_email.as_deref())
        .bind(e.client_id.as_ref().map(|c| c.as_str()))
        .bind(e.action.as_str())
        .bind(e.source_ip.as_deref())
        .bind(e.user_agent.as_deref())
        .bind(e.details.to_string().as_str())
        .execute(&mut **tx)
        .await
        .map_err(db::<DB>)?;
        // A key event queues its notifications in the same transaction.
        Self::insert_outbox(tx, e).await
    }

    /// Writes the notification of a key event and its deliveries.
    async fn insert_outbox(tx: &mut Transaction<'static, DB>, e: &AuditEvent) -> Result<()> {
        let (Some(payload), Some(org_id)) = (outbox::event_payload(e), e.org_id.as_ref()) else {
            return Ok(());
        };
        let now = e.occurred_at;
        sqlx::query(
            "insert into notification_events (event_id, org_id, name, payload, created_at, \
             updated_at) values ($1, $2, $3, $4, $5, $5)",
        )
        .bind(e.event_id.as_str())
        .bind(org_id.as_str())
        .bind(e.action.as_str())
        .bind(payload.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(db::<DB>)?;
        let hooks = sqlx::query(
            "select webhook_id, events from webhooks where org_id = $1 and enabled \
             order by created_at, webhook_id",
        )
        .bind(org_id.as_str())
        .fetch_all(&mut **tx)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(|h| Ok((h.text("webhook_id")?, events_of(&h.text("events")?)?)))
        .collect::<Result<Vec<_>>>()?;
        let emails = sqlx::query(
            "select u.email, m.role from memberships m join users u on u.user_id = m.user_id \
             where m.org_id = $1 and m.role in ($2, $3, $4) order by u.email",
        )
        .bind(org_id.as_str())
        .bind(EMAIL_ROLES[0].as_str())
        .bind(EMAIL_ROLES[1].as_str())
        .bind(EMAIL_ROLES[2].as_str())
        .fetch_all(&mut **tx)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(|r| Ok((r.text("email")?, parse_role(&r.text("role")?)?)))
        .collect::<Result<Vec<_>>>()?;
        for target in outbox::targets(&e.action, hooks, emails) {
            let (channel, webhook_id, recipient) = target.columns();
            sqlx::query(
                "insert into deliveries (delivery_id, event_id, org_id, channel, webhook_id, \
                 recipient, status, attempts, next_attempt_at, lease_until, give_up_at, \
                 created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, null, $8, $7, $7)",
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
            .map_err(db::<DB>)?;
        }
        Ok(())
    }

    pub(crate) async fn record_audit(&self, events: &[AuditEvent]) -> Result<()> {
        let tx = self.begin().await?;
        Self::audit_and_commit(tx, events).await
    }

    pub(crate) async fn record_audit_with_mail(
        &self,
        events: &[AuditEvent],
        mails: &[UserMail],
    ) -> Result<()> {
        let tx = self.begin().await?;
        Self::commit_with_mail(tx, events, mails, None).await
    }

    pub(crate) async fn audit_events(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
        sqlx::query(
            "select audit_seq, audit_event_id, org_id, occurred_at, actor_user_id, actor_email, \
             client_id, action, source_ip, user_agent, details from audit_events \
             where org_id = $1 and ($2 is null or client_id = $2) and audit_seq < $3 \
             order by audit_seq desc limit $4",
        )
        .bind(q.org_id.as_str())
        .bind(q.client_id.as_ref().map(|c| c.as_str()))
        .bind(q.before.unwrap_or(i64::MAX))
        .bind(i64::from(q.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(audit_row)
        .collect()
    }
}
