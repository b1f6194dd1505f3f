//! Webhooks and the outbox's deliveries, with what the outbox and the
//! database pools report for the metrics.

use keygate_core::{DeliveryId, EventId, OrgId, WebhookId};

/// A registered webhook endpoint. Its signing secret is derived from
/// `secret_salt` with the pepper, so the record holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub webhook_id: WebhookId,
    pub org_id: OrgId,
    pub url: String,
    /// Event names it is subscribed to.
    pub events: Vec<String>,
    pub enabled: bool,
    pub secret_salt: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A webhook of the operator: events of every organization. Its signing
/// secret is HMAC(pepper, id + salt), as an organization's webhook's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorWebhookRecord {
    pub webhook_id: WebhookId,
    pub url: String,
    pub events: Vec<String>,
    pub secret_salt: String,
    /// The name of the operator token that made it.
    pub created_by: String,
    pub created_at: i64,
}

/// Where one delivery goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryTarget {
    Webhook(WebhookId),
    Email(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not delivered yet; will be tried at `next_attempt_at`.
    Pending,
    Delivered,
    /// Given up after the retry window.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// One try at delivering, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// 1 for the first try.
    pub attempt: u32,
    pub started_at: i64,
    pub ok: bool,
    /// The HTTP status (webhooks) or SMTP reply code, when there was an answer.
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    /// Why it failed, for people; never a secret.
    pub error: Option<String>,
}

/// One notification to one webhook or mailbox: an outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Assigned by the store: the order deliveries were queued in.
    pub seq: i64,
    pub delivery_id: DeliveryId,
    pub event_id: EventId,
    pub event_name: String,
    pub org_id: OrgId,
    pub target: DeliveryTarget,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub give_up_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Filled by `Store::deliveries` (oldest first); empty from `claim_due`.
    pub attempt_log: Vec<AttemptRecord>,
}

/// A delivery handed to a dispatcher by `Store::claim_due`, with what it needs
/// to send it.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub delivery: DeliveryRecord,
    /// The event's JSON payload, byte for byte as it is sent.
    pub payload: String,
    /// The webhook's current settings (webhook deliveries only).
    pub webhook: Option<WebhookRecord>,
}

/// Pending deliveries of one channel of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStats {
    /// `webhook` or `email`.
    pub channel: String,
    pub pending: u64,
    /// `created_at` (Unix ms) of the oldest pending delivery.
    pub oldest_created_at: Option<i64>,
}

/// One connection pool: `read` and `write` on SQLite (one writer
/// connection), `main` on PostgreSQL (one pool for both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    pub pool: &'static str,
    /// Connections open now, in use or idle.
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    RetryAt(i64),
    GiveUp,
}

#[derive(Debug, Clone)]
pub struct DeliveryQuery {
    pub org_id: OrgId,
    pub webhook_id: Option<WebhookId>,
    /// `seq` of the last delivery of the previous page.
    pub before: Option<i64>,
    pub limit: u32,
}
