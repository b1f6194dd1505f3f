//! The operator's webhooks: events of every organization, delivered by the
//! same outbox as organizations' webhooks (see `audit.rs`, `insert_outbox`).

use keygate_core::WebhookId;

use super::rows::{Get, events_json, events_of, parse_id};
use super::{Sql, SqlStore, db, found};
use crate::{OperatorWebhookRecord, Result};

fn operator_webhook_row(r: &impl Get) -> Result<OperatorWebhookRecord> {
    Ok(OperatorWebhookRecord {
        webhook_id: parse_id(&r.text("webhook_id")?)?,
        url: r.text("url")?,
        events: events_of(&r.text("events")?)?,
        secret_salt: r.text("secret_salt")?,
        created_by: r.text("created_by")?,
        created_at: r.int("created_at")?,
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
    pub(crate) async fn create_operator_webhook(&self, w: &OperatorWebhookRecord) -> Result<()> {
        sqlx::query(
            "insert into operator_webhooks (webhook_id, url, events, secret_salt, created_by, \
             created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(w.webhook_id.as_str())
        .bind(w.url.as_str())
        .bind(events_json(&w.events).as_str())
        .bind(w.secret_salt.as_str())
        .bind(w.created_by.as_str())
        .bind(w.created_at)
        .execute(&self.write)
        .await
        .map_err(db::<DB>)?;
        Ok(())
    }

    pub(crate) async fn operator_webhooks(&self) -> Result<Vec<OperatorWebhookRecord>> {
        sqlx::query(
            "select webhook_id, url, events, secret_salt, created_by, created_at \
             from operator_webhooks order by created_at, webhook_id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(operator_webhook_row)
        .collect()
    }

    /// Deletes the webhook and its deliveries; NotFound when there is none.
    pub(crate) async fn delete_operator_webhook(&self, webhook_id: &WebhookId) -> Result<()> {
        let mut tx = self.begin().await?;
        // The deliveries go first: SQLite enforces the cascade only with
        // foreign keys on, and the attempts cascade from the deliveries.
        sqlx::query("delete from deliveries where operator_webhook_id = $1")
            .bind(webhook_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        let done = sqlx::query("delete from operator_webhooks where webhook_id = $1")
            .bind(webhook_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        tx.commit().await.map_err(db::<DB>)
    }
}
