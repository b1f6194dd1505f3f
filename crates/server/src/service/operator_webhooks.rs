//! The operator's webhooks: events of every organization (`org.created`,
//! `org.suspended`, `org.resumed`, `quota.threshold`, `api_key.exposed`),
//! signed and retried by the same outbox dispatcher as organizations'
//! webhooks, under the same URL (SSRF) rules.

use keygate_core::WebhookId;
use keygate_core::crypto::random_base62;
use keygate_store::OperatorWebhookRecord;
use keygate_store::outbox::OPERATOR_EVENTS;

use crate::notify::secret_of;
use crate::service::Error;
use crate::service::operator::Operator;
use crate::service::webhooks::check_url;
use crate::state::app::App;
use crate::state::clock::now_ms;

/// Endpoints the operator may register.
const MAX_WEBHOOKS: usize = 20;

fn check_events(events: Vec<String>) -> Result<Vec<String>, Error> {
    if events.is_empty() {
        return Err(Error::invalid("events", "subscribe to at least one event"));
    }
    let mut out: Vec<String> = Vec::new();
    for e in events {
        if !OPERATOR_EVENTS.contains(&e.as_str()) {
            return Err(Error::invalid(
                "events",
                format!(
                    "unknown event {e:?}; the events are {}",
                    OPERATOR_EVENTS.join(", ")
                ),
            ));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

/// A new webhook and its signing secret (shown once).
pub async fn create(
    app: &App,
    op: &Operator,
    url: &str,
    events: Vec<String>,
) -> Result<(OperatorWebhookRecord, String), Error> {
    let url = check_url(app, url).await?;
    let events = check_events(events)?;
    if app.store.operator_webhooks().await?.len() >= MAX_WEBHOOKS {
        return Err(Error::Conflict(format!(
            "the operator can have at most {MAX_WEBHOOKS} webhooks"
        )));
    }
    let w = OperatorWebhookRecord {
        webhook_id: WebhookId::generate(),
        url,
        events,
        secret_salt: random_base62(22),
        created_by: op.name.clone(),
        created_at: now_ms(),
    };
    app.store.create_operator_webhook(&w).await?;
    tracing::info!(operator = %op.name, webhook_id = %w.webhook_id,
                   host = %crate::service::webhooks::host_of(&w.url), "operator webhook created");
    let secret = secret_of(&app.pepper, &w.webhook_id, &w.secret_salt);
    Ok((w, secret))
}

pub async fn list(app: &App) -> Result<Vec<OperatorWebhookRecord>, Error> {
    Ok(app.store.operator_webhooks().await?)
}

/// Deletes it and its deliveries; 404 when there is none.
pub async fn delete(app: &App, op: &Operator, webhook_id: &str) -> Result<(), Error> {
    let id: WebhookId = webhook_id.parse().map_err(|_| Error::NotFound)?;
    app.store.delete_operator_webhook(&id).await?;
    tracing::info!(operator = %op.name, webhook_id = %id, "operator webhook deleted");
    Ok(())
}
