//! The audit log: events, their queries, the hash chain's checks, and audit
//! streams.

use keygate_core::{AuditStreamId, ClientId, EventId, OrgId, UserId};

/// Something that happened, for the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Assigned by the store: the event's place in its organization's chain
    /// (1, 2, 3, …; 0 for an event of no organization, which is in no chain).
    pub seq: i64,
    pub event_id: EventId,
    pub org_id: Option<OrgId>,
    pub occurred_at: i64,
    pub actor_user_id: Option<UserId>,
    pub actor_email: Option<String>,
    pub client_id: Option<ClientId>,
    /// `scoped_key.created`, `session.created`, `login.failed`, …
    pub action: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// What changed, as JSON. Never a secret or its digest.
    pub details: serde_json::Value,
    /// Assigned by the store: the previous event's `hash` in the chain
    /// (`audit_chain::GENESIS` before seq 1), empty outside a chain.
    pub prev_hash: String,
    /// Assigned by the store: `audit_chain::event_hash` of [`Self::document`].
    pub hash: String,
}

impl AuditEvent {
    /// The event as the API shows it, streams send it and its hash covers it
    /// (the hash covers this object without `hash`). Changing a member here
    /// breaks every chain written before: add members only with a new
    /// version of the chain.
    pub fn document(&self) -> serde_json::Value {
        serde_json::json!({
            "event_id": self.event_id.as_str(),
            "org_id": self.org_id.as_ref().map(OrgId::as_str),
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "action": self.action,
            "occurred_at": keygate_core::time::format_rfc3339(self.occurred_at),
            "actor_user_id": self.actor_user_id.as_ref().map(UserId::as_str),
            "actor_email": self.actor_email,
            "client_id": self.client_id.as_ref().map(ClientId::as_str),
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            "details": self.details,
        })
    }
}

#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub org_id: OrgId,
    pub client_id: Option<ClientId>,
    /// Newest first, below this seq.
    pub before: Option<i64>,
    /// Oldest first, above this seq (`before` is then not read).
    pub after: Option<i64>,
    /// Only events by this actor (their email).
    pub actor: Option<String>,
    /// Only events of this action (`scoped_key.created`, …).
    pub action: Option<String>,
    pub limit: u32,
}

/// An audit stream: where its organization's chain goes and how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditStreamRecord {
    pub stream_id: AuditStreamId,
    pub org_id: OrgId,
    /// `https://…` (jsonl) or `tcp://host:port` (syslog).
    pub url: String,
    /// `jsonl` or `syslog`.
    pub format: String,
    /// With the pepper, derives the jsonl signing secret.
    pub secret_salt: String,
    /// The newest seq the receiver took (0: none yet).
    pub delivered_seq: i64,
    /// Failed attempts since the last success.
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    /// The organization's newest seq, read with the stream.
    pub head_seq: i64,
}

/// What `Store::verify_audit_chain` found for one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheck {
    pub org_id: OrgId,
    /// Events that verified, from seq 1.
    pub events: i64,
    /// The first event that does not verify, if any.
    pub broken: Option<ChainBreak>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: i64,
    /// In words: `its hash does not match its contents`, `it is missing`, …
    pub reason: String,
}
