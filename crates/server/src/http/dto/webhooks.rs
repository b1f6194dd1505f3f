//! What the webhook and delivery endpoints read and write.

use keygate_core::time::format_rfc3339;
use keygate_store::{AttemptRecord, DeliveryRecord, DeliveryTarget, WebhookRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookCreate {
    /// https URL that resolves to a public address.
    pub url: String,
    /// Event names: `admin_key.generated`, `admin_key.regenerated`, `admin_key.updated`,
    /// `scoped_key.created`, `scoped_key.regenerated`, `scoped_key.duplicated`, `scoped_key.updated`,
    /// `scoped_key.deleted`, `api_key.exposed`, the key lifecycle's `admin_key.previous_secret_expired`,
    /// `scoped_key.previous_secret_expired`, `admin_key.expiring`, `scoped_key.expiring`,
    /// `admin_key.expired`, `scoped_key.expired`, an idle key's `admin_key.unused`,
    /// `scoped_key.unused`, a plan's `quota.threshold` and a key's `api_key.credits_exhausted`.
    pub events: Vec<String>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    pub webhook_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&WebhookRecord> for WebhookView {
    fn from(w: &WebhookRecord) -> WebhookView {
        WebhookView {
            webhook_id: w.webhook_id.to_string(),
            url: w.url.clone(),
            events: w.events.clone(),
            enabled: w.enabled,
            created_at: format_rfc3339(w.created_at),
            updated_at: format_rfc3339(w.updated_at),
        }
    }
}

/// A new webhook. `secret` is shown only here.
#[derive(Serialize, ToSchema)]
pub struct WebhookCreated {
    pub webhook_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
    /// Signing secret: `x-signature` is hex HMAC-SHA-256 keyed with this exact
    /// string over `x-timestamp` followed by the raw body. Shown once.
    pub secret: String,
}

impl WebhookCreated {
    pub fn new(w: &WebhookRecord, secret: String) -> WebhookCreated {
        let v = WebhookView::from(w);
        WebhookCreated {
            webhook_id: v.webhook_id,
            url: v.url,
            events: v.events,
            enabled: v.enabled,
            created_at: v.created_at,
            updated_at: v.updated_at,
            secret,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    pub attempt: u32,
    pub started_at: String,
    pub ok: bool,
    /// HTTP status (webhooks) or SMTP reply code, when there was an answer.
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

impl From<&AttemptRecord> for AttemptView {
    fn from(a: &AttemptRecord) -> AttemptView {
        AttemptView {
            attempt: a.attempt,
            started_at: format_rfc3339(a.started_at),
            ok: a.ok,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    pub delivery_id: String,
    /// Position in the outbox; pass the last one as `before` for the next page.
    pub seq: i64,
    pub event_id: String,
    pub event_name: String,
    /// `webhook` or `email`.
    pub channel: String,
    pub webhook_id: Option<String>,
    pub recipient: Option<String>,
    /// `pending`, `delivered` or `failed` (given up after three days).
    pub status: String,
    pub attempts: u32,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<AttemptView>,
}

impl From<&DeliveryRecord> for DeliveryView {
    fn from(d: &DeliveryRecord) -> DeliveryView {
        let (channel, webhook_id, recipient) = match &d.target {
            DeliveryTarget::Webhook(w) => ("webhook", Some(w.to_string()), None),
            DeliveryTarget::Email(e) => ("email", None, Some(e.clone())),
        };
        DeliveryView {
            delivery_id: d.delivery_id.to_string(),
            seq: d.seq,
            event_id: d.event_id.to_string(),
            event_name: d.event_name.clone(),
            channel: channel.into(),
            webhook_id,
            recipient,
            status: d.status.as_str().into(),
            attempts: d.attempts,
            next_attempt_at: (d.status == keygate_store::DeliveryStatus::Pending)
                .then(|| format_rfc3339(d.next_attempt_at)),
            created_at: format_rfc3339(d.created_at),
            updated_at: format_rfc3339(d.updated_at),
            attempt_log: d.attempt_log.iter().map(AttemptView::from).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}
