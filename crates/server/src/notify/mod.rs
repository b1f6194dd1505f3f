//! The dispatcher: a background task that takes due deliveries from the outbox
//! (written by the store in the same transaction as each key change), sends
//! them by mail or webhook, records every attempt and schedules retries. Key
//! actions never wait for it; they only wake it.

pub mod attempt;
pub mod audit_stream;
pub mod email;
pub mod fetch;
pub mod mail_dir;
pub mod ssrf;
pub mod user_mail;
pub mod webhook;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keygate_core::crypto::Pepper;
use keygate_store::{AttemptOutcome, AttemptRecord, DeliveryTarget, DueDelivery, WebhookRecord};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::state::app::AppState;
use crate::state::clock::now_ms;
use crate::state::metrics;
pub use attempt::{Failure, Sent, retry_delay_ms};
use email::Mailer;
use webhook::{Post, WebhookClient};

/// Deliveries in flight at once.
const CONCURRENCY: usize = 32;
/// How long a claimed delivery is reserved: longer than any one attempt takes
/// (10 s webhook timeout, 20 s for SMTP), so it is not sent twice while in
/// flight; after a crash it is taken up again once the lease has run out.
const LEASE_MS: i64 = 30_000;
/// How often the outbox is looked at without a wake-up (other instances'
/// events, retries coming due).
const POLL: Duration = Duration::from_millis(500);

/// The signing secret of a webhook: derived from the pepper, so the database
/// alone does not hold it.
pub fn signing_secret(pepper: &Pepper, w: &WebhookRecord) -> String {
    secret_of(pepper, &w.webhook_id, &w.secret_salt)
}

/// The signing secret of the webhook `id` with `salt`, an organization's or
/// the operator's (the dispatcher reads both as a `WebhookRecord`).
pub fn secret_of(pepper: &Pepper, id: &keygate_core::WebhookId, salt: &str) -> String {
    let d = pepper.digest(format!("webhook-signing-secret:{id}:{salt}").as_bytes());
    format!("whsec_{}", d.to_hex())
}

struct Ctx {
    app: AppState,
    mailer: Mailer,
    webhooks: WebhookClient,
}

/// The outbox dispatcher, ready to run.
pub struct Dispatcher(Arc<Ctx>);

impl Dispatcher {
    /// Fails only when the SMTP URL is unusable.
    pub fn new(app: AppState) -> anyhow::Result<Dispatcher> {
        let s = &app.settings.notify;
        Ok(Dispatcher(Arc::new(Ctx {
            mailer: Mailer::new(s)?,
            webhooks: WebhookClient::new(s.allow_insecure_webhooks),
            app: app.clone(),
        })))
    }

    /// Claims and delivers due notifications until `stop` resolves, then
    /// waits for the deliveries under way: each ends recorded (sent, or
    /// failed with its next try), none is cut off between the send and its
    /// record.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let mut inflight = JoinSet::new();
        run(self.0, &mut inflight, stop).await;
        while inflight.join_next().await.is_some() {}
    }
}

/// Claims due deliveries and starts each in `inflight`, until `stop`
/// resolves. The stop is looked at only between rounds, never between a claim
/// and the start of what it claimed.
async fn run(ctx: Arc<Ctx>, inflight: &mut JoinSet<()>, stop: impl Future<Output = ()>) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    tokio::pin!(stop);
    loop {
        while inflight.try_join_next().is_some() {}
        let free = permits.available_permits();
        let mut claimed = 0;
        if free > 0 {
            let now = now_ms();
            match ctx
                .app
                .store
                .claim_due(now, free as u32, now + LEASE_MS)
                .await
            {
                Ok(batch) => {
                    claimed = batch.len();
                    for due in batch {
                        let Ok(permit) = permits.clone().acquire_owned().await else {
                            return;
                        };
                        let ctx = ctx.clone();
                        // The attempt's log lines carry the delivery's id as
                        // their request id, the `x-request-id` a webhook gets.
                        let span = tracing::info_span!(
                            "delivery",
                            request_id = %due.delivery.delivery_id
                        );
                        inflight.spawn(async move {
                            deliver(&ctx, due).instrument(span).await;
                            drop(permit);
                            // A slot is free: look for more.
                            ctx.app.dispatcher.wake();
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read the notification outbox"),
            }
        }
        // Audit streams share the slots, the lease and the retry rules: a
        // stream that lags is leased like a due delivery and sent the same way.
        let free_for_streams = permits.available_permits();
        if free_for_streams > 0 {
            let now = now_ms();
            match ctx
                .app
                .store
                .claim_audit_streams(now, free_for_streams as u32, now + LEASE_MS)
                .await
            {
                Ok(streams) => {
                    for stream in streams {
                        let Ok(permit) = permits.clone().acquire_owned().await else {
                            return;
                        };
                        let ctx = ctx.clone();
                        let span =
                            tracing::info_span!("audit_stream", request_id = %stream.stream_id);
                        inflight.spawn(async move {
                            audit_stream::deliver(&ctx.app, &ctx.webhooks, stream)
                                .instrument(span)
                                .await;
                            drop(permit);
                            ctx.app.dispatcher.wake();
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read the audit streams"),
            }
        }
        if claimed > 0 && claimed == free {
            // More may be due: go on at once, unless a stop was asked for.
            tokio::select! {
                biased;
                () = &mut stop => return,
                () = std::future::ready(()) => continue,
            }
        }
        tokio::select! {
            () = ctx.app.dispatcher.woken() => {}
            _ = tokio::time::sleep(POLL) => {}
            () = &mut stop => return,
        }
    }
}

async fn deliver(ctx: &Ctx, due: DueDelivery) {
    let d = &due.delivery;
    let started_at = now_ms();
    let clock = Instant::now();
    let result = match &d.target {
        DeliveryTarget::Webhook(_) => match &due.webhook {
            Some(w) => {
                let secret = signing_secret(&ctx.app.pepper, w);
                ctx.webhooks
                    .post(&Post {
                        url: &w.url,
                        secret: &secret,
                        event_id: d.event_id.as_str(),
                        event_name: &d.event_name,
                        delivery_id: d.delivery_id.as_str(),
                        body: &due.payload,
                        timestamp_ms: now_ms(),
                        content_type: "application/json",
                    })
                    .await
            }
            None => Err(Failure::new(None, "the webhook was deleted")),
        },
        DeliveryTarget::Email(to) => {
            let payload: serde_json::Value = serde_json::from_str(&due.payload).unwrap_or_default();
            let s = &ctx.app.settings.notify;
            if let Some(mail) = user_mail::render(
                &payload,
                &s.public_url,
                &ctx.app.pepper,
                d.delivery_id.as_str(),
            ) {
                return finish(
                    ctx,
                    &due,
                    started_at,
                    clock,
                    ctx.mailer.send(&s.mail_from, &mail).await,
                )
                .await;
            }
            let org_name = match ctx.app.store.org(&d.org_id).await {
                Ok(Some(o)) => o.name,
                _ => d.org_id.to_string(),
            };
            let mail = email::render(&payload, &org_name, to, d.delivery_id.as_str());
            ctx.mailer
                .send(&ctx.app.settings.notify.mail_from, &mail)
                .await
        }
    };
    finish(ctx, &due, started_at, clock, result).await;
}

/// Records the attempt and schedules what comes next.
async fn finish(
    ctx: &Ctx,
    due: &DueDelivery,
    started_at: i64,
    clock: Instant,
    result: Result<Sent, Failure>,
) {
    let d = &due.delivery;
    let latency_ms = clock.elapsed().as_millis() as i64;
    let attempt = d.attempts + 1;
    let (record, outcome) = match result {
        Ok(sent) => (
            AttemptRecord {
                attempt,
                started_at,
                ok: true,
                status_code: sent.status_code,
                latency_ms,
                error: None,
            },
            AttemptOutcome::Delivered,
        ),
        Err(f) => {
            let next = now_ms() + retry_delay_ms(ctx.app.settings.notify.retry_base_ms, attempt);
            let outcome = if next > d.give_up_at
                || due.webhook.is_none() && matches!(d.target, DeliveryTarget::Webhook(_))
            {
                AttemptOutcome::GiveUp
            } else {
                AttemptOutcome::RetryAt(next)
            };
            (
                AttemptRecord {
                    attempt,
                    started_at,
                    ok: false,
                    status_code: f.status_code,
                    latency_ms,
                    error: Some(f.error),
                },
                outcome,
            )
        }
    };
    let webhook = matches!(d.target, DeliveryTarget::Webhook(_));
    let counted = match outcome {
        AttemptOutcome::Delivered => metrics::Delivery::Delivered,
        AttemptOutcome::RetryAt(_) => metrics::Delivery::Retry,
        AttemptOutcome::GiveUp => metrics::Delivery::GaveUp,
    };
    let channel = match &d.target {
        DeliveryTarget::Webhook(w) => format!("webhook {w}"),
        DeliveryTarget::Email(_) => "email".to_owned(),
    };
    match (&outcome, &record.error) {
        (AttemptOutcome::Delivered, _) => {
            tracing::info!(delivery_id = %d.delivery_id, event = %d.event_name, %channel, attempt, latency_ms, "notification delivered")
        }
        (_, err) => tracing::warn!(
            delivery_id = %d.delivery_id, event = %d.event_name, %channel, attempt, latency_ms,
            error = err.as_deref().unwrap_or(""), gave_up = matches!(outcome, AttemptOutcome::GiveUp),
            "notification attempt failed"
        ),
    }
    if let Err(e) = ctx
        .app
        .store
        .record_attempt(&d.delivery_id, &record, outcome)
        .await
    {
        // The lease runs out and the delivery is tried again: at least once.
        tracing::error!(error = %e, delivery_id = %d.delivery_id, "could not record a delivery attempt");
    }
    // Counted once recorded: a scrape that sees the attempt also sees the
    // delivery's new state in the outbox gauges.
    ctx.app.metrics.delivery(webhook, counted);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_retry_comes_within_ten_seconds_and_later_ones_grow() {
        for _ in 0..100 {
            let first = retry_delay_ms(4000, 1);
            assert!((2000..=6000).contains(&first), "{first}");
            let fifth = retry_delay_ms(4000, 5);
            assert!((32_000..=96_000).contains(&fifth), "{fifth}");
        }
        assert!(retry_delay_ms(4000, 60) <= 4000 * 2048 * 3 / 2);
    }
}
