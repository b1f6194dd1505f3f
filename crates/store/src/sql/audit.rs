//! The audit log, and with each of its writes the notification outbox rows a
//! key event queues (`crate::outbox` decides what goes in).

use keygate_core::{DeliveryId, EventId, OrgId};
use sqlx::Transaction;

use keygate_core::audit_chain;

use super::rows::{Get, audit_row, events_of, parse_id, parse_role};
use super::{Sql, SqlStore, db};
use crate::outbox::{self, EMAIL_ROLES, RETRY_WINDOW_MS};
use crate::{AuditEvent, AuditQuery, ChainBreak, ChainCheck, Result, StoreError, UserMail};

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

    /// The one place an audit event is written: an event of an organization
    /// takes the next link of that organization's chain (see
    /// [`Self::link_audit`]) in the caller's transaction, then the
    /// notifications a key event queues.
    pub(crate) async fn insert_audit(
        tx: &mut Transaction<'static, DB>,
        e: &AuditEvent,
    ) -> Result<()> {
        // The chain covers the details as they will be read back.
        let details_text = e.details.to_string();
        let mut event = e.clone();
        event.details = serde_json::from_str(&details_text)
            .map_err(|err| StoreError::Internal(err.to_string()))?;
        if event.org_id.is_some() {
            Self::link_audit(tx, &mut event).await?;
        }
        sqlx::query(
            "insert into audit_events (audit_event_id, org_id, occurred_at, actor_user_id, \
             actor_email, client_id, action, source_ip, user_agent, details, created_at, \
             updated_at, org_seq, prev_hash, hash) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $3, $3, $11, $12, $13)",
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
        .bind(details_text.as_str())
        .bind(event.org_id.is_some().then_some(event.seq))
        .bind(event.org_id.is_some().then_some(event.prev_hash.as_str()))
        .bind(event.org_id.is_some().then_some(event.hash.as_str()))
        .execute(&mut **tx)
        .await
        .map_err(db::<DB>)?;
        // A key event queues its notifications in the same transaction.
        Self::insert_outbox(tx, e).await
    }

    /// Gives `e` the next seq of its organization's chain, the head's hash as
    /// `prev_hash`, and its own hash, and moves the head on. The upsert
    /// takes the head row's lock until the transaction ends, so concurrent
    /// writers of one organization queue up here (PostgreSQL) or are already
    /// one at a time (SQLite's one writer): no two events get one seq, none
    /// is skipped, and a rolled-back change gives its seq back. The unique
    /// `(org_id, org_seq)` index refuses a fork should anything else write.
    async fn link_audit(tx: &mut Transaction<'static, DB>, e: &mut AuditEvent) -> Result<()> {
        let Some(org_id) = e.org_id.clone() else {
            return Ok(());
        };
        let head = sqlx::query(
            "insert into audit_chain_heads (org_id, seq, hash) values ($1, 1, $2) \
             on conflict (org_id) do update set seq = audit_chain_heads.seq + 1 \
             returning seq, hash",
        )
        .bind(org_id.as_str())
        .bind(audit_chain::GENESIS)
        .fetch_one(&mut **tx)
        .await
        .map_err(db::<DB>)?;
        e.seq = head.int("seq")?;
        e.prev_hash = head.text("hash")?;
        e.hash = String::new();
        e.hash = audit_chain::event_hash(&e.document());
        sqlx::query("update audit_chain_heads set hash = $1 where org_id = $2")
            .bind(e.hash.as_str())
            .bind(org_id.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db::<DB>)?;
        Ok(())
    }

    /// Chains the events written before the chain existed (the upgrade's
    /// migration leaves them unlinked), oldest first, continuing each
    /// organization's chain. Run after every migration; finds nothing to do
    /// once done.
    pub(crate) async fn chain_unlinked_audit(&self) -> Result<u64> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "select audit_seq, audit_event_id, org_id, occurred_at, actor_user_id, actor_email, \
             client_id, action, source_ip, user_agent, details, org_seq, prev_hash, hash \
             from audit_events where hash is null and org_id is not null order by audit_seq",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        let mut linked = 0;
        for row in &rows {
            let audit_seq = row.int("audit_seq")?;
            let mut e = audit_row(row)?;
            Self::link_audit(&mut tx, &mut e).await?;
            let done = sqlx::query(
                "update audit_events set org_seq = $1, prev_hash = $2, hash = $3 \
                 where audit_seq = $4 and hash is null",
            )
            .bind(e.seq)
            .bind(e.prev_hash.as_str())
            .bind(e.hash.as_str())
            .bind(audit_seq)
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
            if DB::rows_affected(&done) == 0 {
                // Another instance migrating at the same moment chained it
                // first: its links stand, ours go.
                tx.rollback().await.map_err(db::<DB>)?;
                return Ok(0);
            }
            linked += 1;
        }
        tx.commit().await.map_err(db::<DB>)?;
        Ok(linked)
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
        let mut rows: Vec<(&str, outbox::Target)> = Vec::new();
        if outbox::is_key_event(&e.action) {
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
            for t in outbox::targets(&e.action, hooks, emails) {
                rows.push((org_id.as_str(), t));
            }
        }
        let mut operator_hooks = Vec::new();
        if outbox::is_operator_event(&e.action) {
            // The operator's webhooks: rows of no organization (`NO_ORG`).
            operator_hooks = sqlx::query(
                "select webhook_id, events from operator_webhooks order by created_at, webhook_id",
            )
            .fetch_all(&mut **tx)
            .await
            .map_err(db::<DB>)?
            .iter()
            .map(|h| Ok((h.text("webhook_id")?, events_of(&h.text("events")?)?)))
            .collect::<Result<Vec<_>>>()?;
            operator_hooks.retain(|(_, events)| outbox::subscribed(events, &e.action));
        }
        // (org, channel, webhook, recipient, operator webhook) of each row.
        let org_rows = rows.iter().map(|(org, t)| {
            let (channel, webhook_id, recipient) = t.columns();
            (*org, channel, webhook_id, recipient, None)
        });
        let operator_rows = operator_hooks
            .iter()
            .map(|(id, _)| (outbox::NO_ORG, "webhook", None, None, Some(id.as_str())));
        for (org, channel, webhook_id, recipient, operator_id) in org_rows.chain(operator_rows) {
            sqlx::query(
                "insert into deliveries (delivery_id, event_id, org_id, channel, webhook_id, \
                 recipient, status, attempts, next_attempt_at, lease_until, give_up_at, \
                 created_at, updated_at, operator_webhook_id) \
                 values ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, null, $8, $7, $7, $9)",
            )
            .bind(DeliveryId::generate().as_str())
            .bind(e.event_id.as_str())
            .bind(org)
            .bind(channel)
            .bind(webhook_id)
            .bind(recipient)
            .bind(now)
            .bind(now + RETRY_WINDOW_MS)
            .bind(operator_id)
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

    /// Newest first below `before`, or, with `after`, oldest first above it.
    pub(crate) async fn audit_events(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
        let sql = if q.after.is_some() {
            "select audit_event_id, org_id, occurred_at, actor_user_id, actor_email, \
             client_id, action, source_ip, user_agent, details, org_seq, prev_hash, hash \
             from audit_events \
             where org_id = $1 and ($2 is null or client_id = $2) and org_seq > $3 \
             and ($5 is null or actor_email = $5) and ($6 is null or action = $6) \
             order by org_seq limit $4"
        } else {
            "select audit_event_id, org_id, occurred_at, actor_user_id, actor_email, \
             client_id, action, source_ip, user_agent, details, org_seq, prev_hash, hash \
             from audit_events \
             where org_id = $1 and ($2 is null or client_id = $2) and org_seq < $3 \
             and ($5 is null or actor_email = $5) and ($6 is null or action = $6) \
             order by org_seq desc limit $4"
        };
        let bound = match q.after {
            Some(after) => after,
            None => q.before.unwrap_or(i64::MAX),
        };
        sqlx::query(sql)
            .bind(q.org_id.as_str())
            .bind(q.client_id.as_ref().map(|c| c.as_str()))
            .bind(bound)
            .bind(i64::from(q.limit))
            .bind(q.actor.as_deref())
            .bind(q.action.as_deref())
            .fetch_all(&self.read)
            .await
            .map_err(db::<DB>)?
            .iter()
            .map(audit_row)
            .collect()
    }

    /// Recomputes the chain of `org` (or of every organization) from the
    /// database, in pages: each event's seq, link and hash, then the head.
    pub(crate) async fn verify_audit_chain(&self, org: Option<&OrgId>) -> Result<Vec<ChainCheck>> {
        let orgs: Vec<String> = match org {
            Some(o) => vec![o.as_str().to_owned()],
            None => sqlx::query(
                "select org_id from audit_chain_heads union \
                 select org_id from audit_events where org_id is not null order by org_id",
            )
            .fetch_all(&self.read)
            .await
            .map_err(db::<DB>)?
            .iter()
            .map(|r| r.text("org_id"))
            .collect::<Result<_>>()?,
        };
        let mut checks = Vec::new();
        for org_id in orgs {
            let mut chain = audit_chain::Verifier::default();
            let mut broken = None;
            let mut after = 0;
            'pages: loop {
                let rows = sqlx::query(
                    "select audit_event_id, org_id, occurred_at, actor_user_id, actor_email, \
                     client_id, action, source_ip, user_agent, details, org_seq, prev_hash, hash \
                     from audit_events where org_id = $1 and org_seq > $2 \
                     order by org_seq limit 1000",
                )
                .bind(org_id.as_str())
                .bind(after)
                .fetch_all(&self.read)
                .await
                .map_err(db::<DB>)?;
                if rows.is_empty() {
                    break;
                }
                for row in &rows {
                    let e = match audit_row(row) {
                        Ok(e) => e,
                        Err(_) => {
                            let seq = row.opt_int("org_seq")?.unwrap_or(chain.next_seq());
                            broken = Some(ChainBreak {
                                seq,
                                reason: "its row cannot be read".to_owned(),
                            });
                            break 'pages;
                        }
                    };
                    after = e.seq;
                    if let Err(b) = chain.push(&e.document()) {
                        broken = Some(ChainBreak {
                            seq: b.seq,
                            reason: b.reason.to_owned(),
                        });
                        break 'pages;
                    }
                }
            }
            // Events written before the chain, not yet linked: the chain
            // cannot vouch for them.
            if broken.is_none() {
                let unlinked = sqlx::query(
                    "select count(*) as n from audit_events where org_id = $1 and hash is null",
                )
                .bind(org_id.as_str())
                .fetch_one(&self.read)
                .await
                .map_err(db::<DB>)?
                .int("n")?;
                if unlinked > 0 {
                    broken = Some(ChainBreak {
                        seq: chain.next_seq(),
                        reason: format!("{unlinked} events are not linked (run keygate migrate)"),
                    });
                }
            }
            if broken.is_none() {
                let head = sqlx::query("select seq, hash from audit_chain_heads where org_id = $1")
                    .bind(org_id.as_str())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(db::<DB>)?;
                let head = match head {
                    Some(h) => Some((h.int("seq")?, h.text("hash")?)),
                    None => None,
                };
                if let Err(b) = chain.finish(head.as_ref().map(|(s, h)| (*s, h.as_str()))) {
                    broken = Some(ChainBreak {
                        seq: b.seq,
                        reason: b.reason.to_owned(),
                    });
                }
            }
            checks.push(ChainCheck {
                org_id: parse_id(&org_id)?,
                events: chain.count(),
                broken,
            });
        }
        Ok(checks)
    }
}
