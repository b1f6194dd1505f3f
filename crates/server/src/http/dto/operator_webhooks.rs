//! What the operator's webhook endpoints read and write.

use keygate_core::time::format_rfc3339;
use keygate_store::OperatorWebhookRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorWebhookCreate {
    /// https URL that resolves to a public address (the rules of
    /// organizations' webhooks).
    pub url: String,
    /// Event names, of every organization: `org.created`, `org.suspended`,
    /// `org.resumed`, `quota.threshold`, `api_key.exposed`.
    pub events: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OperatorWebhookView {
    pub webhook_id: String,
    pub url: String,
    pub events: Vec<String>,
    /// The operator token that made it.
    pub created_by: String,
    pub created_at: String,
}

impl From<&OperatorWebhookRecord> for OperatorWebhookView {
    fn from(w: &OperatorWebhookRecord) -> OperatorWebhookView {
        OperatorWebhookView {
            webhook_id: w.webhook_id.to_string(),
            url: w.url.clone(),
            events: w.events.clone(),
            created_by: w.created_by.clone(),
            created_at: format_rfc3339(w.created_at),
        }
    }
}

/// A new operator webhook. `secret` is shown only here.
#[derive(Serialize, ToSchema)]
pub struct OperatorWebhookCreated {
    #[serde(flatten)]
    pub webhook: OperatorWebhookView,
    /// Signing secret: `x-signature` is hex HMAC-SHA-256 keyed with this exact
    /// string over `x-timestamp` followed by the raw body. Shown once.
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct OperatorWebhookList {
    pub webhooks: Vec<OperatorWebhookView>,
}
