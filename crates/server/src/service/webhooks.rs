//! Webhook endpoints (owner/admin) and manual redelivery.

use keygate_core::crypto::random_base62;
use keygate_core::{DeliveryId, OrgId, WebhookId};
use keygate_store::outbox::KEY_EVENTS;
use keygate_store::{DeliveryQuery, DeliveryRecord, StoreError, WebhookRecord};
use serde_json::json;

use crate::notify::{signing_secret, ssrf};
use crate::service::{Acting, Error, passwords};
use crate::state::app::App;
use crate::state::clock::now_ms;

/// Endpoints one organization may register.
const MAX_WEBHOOKS: usize = 20;

/// A new webhook with its signing secret, for the one response that shows it.
pub struct Created {
    pub webhook: WebhookRecord,
    pub secret: String,
}

/// What a client asks to set.
pub struct WebhookInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

pub(crate) async fn check_url(app: &App, url: &str) -> Result<String, Error> {
    let insecure = app.settings.notify.allow_insecure_webhooks;
    let target = ssrf::parse(url.trim(), insecure).map_err(|m| Error::invalid("url", m))?;
    ssrf::resolve(&target, insecure)
        .await
        .map_err(|m| Error::invalid("url", m))?;
    Ok(url.trim().to_owned())
}

fn check_events(events: Vec<String>) -> Result<Vec<String>, Error> {
    if events.is_empty() {
        return Err(Error::invalid("events", "subscribe to at least one event"));
    }
    let mut out: Vec<String> = Vec::new();
    for e in events {
        if !KEY_EVENTS.contains(&e.as_str()) {
            return Err(Error::invalid(
                "events",
                format!("unknown event; the events are {}", KEY_EVENTS.join(", ")),
            ));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

/// Only the host goes into the audit log: a webhook URL can carry a token.
pub(crate) fn host_of(url: &str) -> String {
    ssrf::parse(url, true).map(|t| t.host).unwrap_or_default()
}

/// The organization's webhooks.
pub async fn list(app: &App, org_id: &OrgId) -> Result<Vec<WebhookRecord>, Error> {
    Ok(app.store.webhooks(org_id).await?)
}

pub async fn create(
    app: &App,
    who: &Acting,
    input: WebhookInput,
    password: Option<&str>,
) -> Result<Created, Error> {
    passwords::confirm(app, &who.user, password).await?;
    let (actor, org_id) = (&who.actor, &who.org_id);
    let url = check_url(
        app,
        input
            .url
            .as_deref()
            .ok_or_else(|| Error::invalid("url", "missing field `url`"))?,
    )
    .await?;
    let events = check_events(
        input
            .events
            .ok_or_else(|| Error::invalid("events", "missing field `events`"))?,
    )?;
    if app.store.webhooks(org_id).await?.len() >= MAX_WEBHOOKS {
        return Err(Error::Conflict(format!(
            "an organization can have at most {MAX_WEBHOOKS} webhooks"
        )));
    }
    let now = now_ms();
    let webhook = WebhookRecord {
        webhook_id: WebhookId::generate(),
        org_id: org_id.clone(),
        url,
        events,
        enabled: input.enabled.unwrap_or(true),
        secret_salt: random_base62(22),
        created_at: now,
        updated_at: now,
    };
    let event = actor.event(
        Some(org_id),
        "webhook.created",
        None,
        json!({"webhook_id": webhook.webhook_id, "host": host_of(&webhook.url),
               "events": webhook.events, "enabled": webhook.enabled}),
    );
    app.store.create_webhook(&webhook, &event).await?;
    let secret = signing_secret(&app.pepper, &webhook);
    Ok(Created { webhook, secret })
}

/// A webhook of this organization, or 404 (also for other organizations').
pub async fn find(
    app: &App,
    org_id: &OrgId,
    webhook_id: &WebhookId,
) -> Result<WebhookRecord, Error> {
    app.store
        .webhooks(org_id)
        .await?
        .into_iter()
        .find(|w| w.webhook_id == *webhook_id)
        .ok_or(Error::NotFound)
}

pub async fn update(
    app: &App,
    who: &Acting,
    webhook_id: &WebhookId,
    input: WebhookInput,
    password: Option<&str>,
) -> Result<WebhookRecord, Error> {
    let (actor, org_id) = (&who.actor, &who.org_id);
    let mut w = find(app, org_id, webhook_id).await?;
    passwords::confirm(app, &who.user, password).await?;
    if let Some(url) = input.url {
        w.url = check_url(app, &url).await?;
    }
    if let Some(events) = input.events {
        w.events = check_events(events)?;
    }
    if let Some(enabled) = input.enabled {
        w.enabled = enabled;
    }
    w.updated_at = now_ms();
    let event = actor.event(
        Some(org_id),
        "webhook.updated",
        None,
        json!({"webhook_id": w.webhook_id, "host": host_of(&w.url), "events": w.events, "enabled": w.enabled}),
    );
    app.store.update_webhook(&w, &event).await?;
    Ok(w)
}

pub async fn delete(
    app: &App,
    who: &Acting,
    webhook_id: &WebhookId,
    password: Option<&str>,
) -> Result<(), Error> {
    let (actor, org_id) = (&who.actor, &who.org_id);
    let w = find(app, org_id, webhook_id).await?;
    passwords::confirm(app, &who.user, password).await?;
    let event = actor.event(
        Some(org_id),
        "webhook.deleted",
        None,
        json!({"webhook_id": w.webhook_id, "host": host_of(&w.url)}),
    );
    app.store.delete_webhook(org_id, webhook_id, &event).await?;
    Ok(())
}

/// Deliveries of the organization (or of one of its webhooks), newest first:
/// at most `limit` (1 to 200) older than `before`.
pub async fn deliveries(
    app: &App,
    org_id: &OrgId,
    webhook_id: Option<&WebhookId>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<DeliveryRecord>, Error> {
    if !(1..=200).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            "must be a whole number from 1 to 200",
        ));
    }
    if let Some(id) = webhook_id {
        find(app, org_id, id).await?;
    }
    Ok(app
        .store
        .deliveries(&DeliveryQuery {
            org_id: org_id.clone(),
            webhook_id: webhook_id.cloned(),
            before,
            limit,
        })
        .await?)
}

/// Queues a delivery again, due now, with a fresh three-day retry window.
pub async fn redeliver(
    app: &App,
    who: &Acting,
    delivery_id: &DeliveryId,
    password: Option<&str>,
) -> Result<(), Error> {
    passwords::confirm(app, &who.user, password).await?;
    let (actor, org_id) = (&who.actor, &who.org_id);
    let event = actor.event(
        Some(org_id),
        "delivery.redelivered",
        None,
        json!({"delivery_id": delivery_id}),
    );
    match app
        .store
        .redeliver(org_id, delivery_id, now_ms(), &event)
        .await
    {
        Ok(()) => {
            app.dispatcher.wake();
            Ok(())
        }
        Err(StoreError::NotFound) => Err(Error::NotFound),
        Err(e) => Err(e.into()),
    }
}
