//! What the management API reads and writes, as JSON. Times are RFC 3339 UTC.
//!
//! Here: sessions, users, accounts, members, the audit log and the password
//! confirmation many requests carry; each larger area in a file of its own
//! (`keys.rs`: API keys and rate limits).

pub mod audit_streams;
pub mod key_policy;
pub mod key_terms;
pub mod keys;
pub mod leaks;
pub mod operator;
pub mod operator_webhooks;
pub mod passkeys;
pub mod people;
pub mod plans;
pub mod sso;
pub mod two_factor;
pub mod usage;
pub mod webhooks;

use keygate_core::time::format_rfc3339;
use keygate_store::{AccountRecord, AuditEvent, MemberRecord, Membership, UserRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionCreate {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionCreated {
    /// Send as `Authorization: Bearer <session_token>`. Shown once.
    pub session_token: String,
    pub expires_at: String,
    pub user: UserView,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub user_id: String,
    pub email: String,
    pub created_at: String,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> UserView {
        UserView {
            user_id: u.user_id.to_string(),
            email: u.email.clone(),
            created_at: format_rfc3339(u.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MembershipView {
    pub org_id: String,
    pub org_name: String,
    pub role: String,
}

impl From<&Membership> for MembershipView {
    fn from(m: &Membership) -> MembershipView {
        MembershipView {
            org_id: m.org_id.to_string(),
            org_name: m.org_name.clone(),
            role: m.role.as_str().to_owned(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MeView {
    pub user: UserView,
    pub memberships: Vec<MembershipView>,
}

#[derive(Serialize, ToSchema)]
pub struct AccountView {
    pub account_id: String,
    pub org_id: String,
    pub name: String,
    pub created_at: String,
}

impl From<&AccountRecord> for AccountView {
    fn from(a: &AccountRecord) -> AccountView {
        AccountView {
            account_id: a.account_id.to_string(),
            org_id: a.org_id.to_string(),
            name: a.name.clone(),
            created_at: format_rfc3339(a.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountCreate {
    pub name: String,
    /// Your current login password, to confirm the change.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub created_at: String,
    /// Whether the member has two-factor sign-in on.
    pub two_factor: bool,
}

impl From<&MemberRecord> for MemberView {
    fn from(m: &MemberRecord) -> MemberView {
        MemberView {
            user_id: m.user_id.to_string(),
            email: m.email.clone(),
            role: m.role.as_str().to_owned(),
            created_at: format_rfc3339(m.created_at),
            two_factor: m.two_factor,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    /// admin, developer, analyst or viewer.
    pub role: String,
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfirmation {
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

/// One event of the organization's hash chain. Its `hash` is the lowercase
/// hex SHA-256 of this object without `hash`, in RFC 8785 (JCS) form; it is
/// `keygate_store::AuditEvent::document`, member for member.
#[derive(Serialize, ToSchema)]
pub struct AuditEventView {
    pub event_id: String,
    pub org_id: Option<String>,
    /// Place in the organization's chain: 1, 2, 3, … with no gap.
    pub seq: i64,
    /// The previous event's `hash`; 64 zeros for seq 1.
    pub prev_hash: String,
    /// SHA-256 (hex) of this event without `hash`, in RFC 8785 form.
    pub hash: String,
    pub action: String,
    pub occurred_at: String,
    pub actor_user_id: Option<String>,
    pub actor_email: Option<String>,
    pub client_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<&AuditEvent> for AuditEventView {
    fn from(e: &AuditEvent) -> AuditEventView {
        AuditEventView {
            event_id: e.event_id.to_string(),
            org_id: e.org_id.as_ref().map(ToString::to_string),
            seq: e.seq,
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
            action: e.action.clone(),
            occurred_at: format_rfc3339(e.occurred_at),
            actor_user_id: e.actor_user_id.as_ref().map(ToString::to_string),
            actor_email: e.actor_email.clone(),
            client_id: e.client_id.as_ref().map(ToString::to_string),
            source_ip: e.source_ip.clone(),
            user_agent: e.user_agent.clone(),
            details: e.details.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first; with `after_seq`, oldest first.
    pub events: Vec<AuditEventView>,
    /// Newest first: pass as `before` for the next (older) page; null on the last page.
    pub next_before: Option<i64>,
    /// With `after_seq`: pass as `after_seq` for the next (newer) page; null
    /// once the page reached the newest event.
    pub next_after_seq: Option<i64>,
}

#[cfg(test)]
mod audit_view_tests {
    use keygate_core::{ClientId, EventId, OrgId, UserId};
    use keygate_store::AuditEvent;
    use serde_json::json;

    use super::AuditEventView;

    /// The API's event is the document the chain hashes, member for member.
    #[test]
    fn the_view_is_the_hashed_document() {
        let e = AuditEvent {
            seq: 3,
            event_id: EventId::generate(),
            org_id: Some(OrgId::generate()),
            occurred_at: 1_776_000_000_123,
            actor_user_id: Some(UserId::generate()),
            actor_email: Some("a@b.test".into()),
            client_id: Some(ClientId::generate()),
            action: "scoped_key.created".into(),
            source_ip: Some("127.0.0.1".into()),
            user_agent: None,
            details: json!({"name": "x", "n": [1, true, null]}),
            prev_hash: "a".repeat(64),
            hash: "b".repeat(64),
        };
        let view = serde_json::to_value(AuditEventView::from(&e)).unwrap();
        assert_eq!(view, e.document());
    }
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// A JWT (EdDSA). Send it as `Authorization: Bearer <token>`.
    pub token: String,
    /// Like `2026-05-12T00:00:00+0000`.
    pub expires_at: String,
    /// `DPoP` when the login carried a DPoP proof: send the token as
    /// `Authorization: DPoP <token>` with a fresh proof. Absent: a bearer token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}
