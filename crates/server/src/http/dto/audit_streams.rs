//! What the audit stream endpoints read and write.

use keygate_core::time::format_rfc3339;
use keygate_store::AuditStreamRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditStreamCreate {
    /// jsonl: an https URL (signed POSTs of JSON lines); syslog: `tcp://host:port`.
    #[serde(default)]
    pub url: Option<String>,
    /// `jsonl` or `syslog`.
    #[serde(default)]
    pub format: Option<String>,
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditStreamView {
    pub stream_id: String,
    pub url: String,
    pub format: String,
    /// The newest seq the receiver took; 0 before the first.
    pub delivered_seq: i64,
    /// Events written but not yet taken: 0 when caught up.
    pub lag_seq: i64,
    /// The last failed attempt's error; null after a success.
    pub last_error: Option<String>,
    pub created_at: String,
}

impl From<&AuditStreamRecord> for AuditStreamView {
    fn from(s: &AuditStreamRecord) -> AuditStreamView {
        AuditStreamView {
            stream_id: s.stream_id.to_string(),
            url: s.url.clone(),
            format: s.format.clone(),
            delivered_seq: s.delivered_seq,
            lag_seq: (s.head_seq - s.delivered_seq).max(0),
            last_error: s.last_error.clone(),
            created_at: format_rfc3339(s.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditStreamCreated {
    pub stream_id: String,
    pub url: String,
    pub format: String,
    /// 0: the stream starts from seq 1, the events before it included.
    pub delivered_seq: i64,
    /// jsonl only, shown once: `x-signature` is hex HMAC-SHA-256 of
    /// `x-timestamp` followed by the raw body, keyed with this string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}
