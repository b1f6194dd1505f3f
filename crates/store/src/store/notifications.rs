//! Notifications: organizations' and the operator's webhooks, and the
//! outbox's deliveries.

use async_trait::async_trait;
use keygate_core::{DeliveryId, OrgId, WebhookId};

use crate::{
    AttemptOutcome, AttemptRecord, AuditEvent, DeliveryQuery, DeliveryRecord, DueDelivery,
    OperatorWebhookRecord, OutboxStats, Result, WebhookRecord,
};

/// Webhooks and the outbox. Every store method that writes an audit event
/// whose action is a key event (`outbox::KEY_EVENTS`) also writes, in the
/// same transaction, the event's payload (`outbox::event_payload`) and one
/// pending delivery per enabled webhook subscribed to it and per member with
/// an `outbox::EMAIL_ROLES` role.
///
/// One area of [`Store`](crate::Store), implemented for `SqlStore` in
/// `sql/store/notifications.rs`.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    // Organizations' webhooks.

    async fn create_webhook(&self, webhook: &WebhookRecord, audit: &AuditEvent) -> Result<()>;

    /// The organization's webhooks, oldest first.
    async fn webhooks(&self, org_id: &OrgId) -> Result<Vec<WebhookRecord>>;

    /// Saves url, events, enabled and secret_salt. NotFound when the webhook is
    /// not in `webhook.org_id`.
    async fn update_webhook(&self, webhook: &WebhookRecord, audit: &AuditEvent) -> Result<()>;

    /// Deletes the webhook and its deliveries.
    async fn delete_webhook(
        &self,
        org_id: &OrgId,
        webhook_id: &WebhookId,
        audit: &AuditEvent,
    ) -> Result<()>;

    // The operator's webhooks (events of every organization).

    async fn create_operator_webhook(&self, webhook: &OperatorWebhookRecord) -> Result<()>;

    /// The operator's webhooks, oldest first.
    async fn operator_webhooks(&self) -> Result<Vec<OperatorWebhookRecord>>;

    /// Deletes it and its deliveries; NotFound when there is none.
    async fn delete_operator_webhook(&self, webhook_id: &WebhookId) -> Result<()>;

    // Deliveries.

    /// Leases up to `limit` pending deliveries that are due at `now` and not
    /// leased (or whose lease ran out), until `lease_until`, and returns them.
    /// Deliveries of disabled webhooks wait. Written so that several instances
    /// can claim at once without taking the same row (PostgreSQL: `for update
    /// skip locked`).
    async fn claim_due(&self, now: i64, limit: u32, lease_until: i64) -> Result<Vec<DueDelivery>>;

    /// Records one attempt of a claimed delivery, releases its lease and sets
    /// what happens next. A delivery deleted meanwhile is ignored.
    async fn record_attempt(
        &self,
        delivery_id: &DeliveryId,
        attempt: &AttemptRecord,
        outcome: AttemptOutcome,
    ) -> Result<()>;

    /// Newest first, each with its attempts.
    async fn deliveries(&self, query: &DeliveryQuery) -> Result<Vec<DeliveryRecord>>;

    /// Makes a delivery pending again, due now, with a fresh retry window.
    /// Conflict while an attempt is in flight.
    async fn redeliver(
        &self,
        org_id: &OrgId,
        delivery_id: &DeliveryId,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<()>;

    /// The pending deliveries of the outbox, per channel (`webhook`, `email`):
    /// how many, and when the oldest was written. Read at each scrape, off the
    /// hot path.
    async fn outbox_stats(&self) -> Result<Vec<OutboxStats>>;
}
