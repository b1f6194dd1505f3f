//! The values the store reads and writes.

use std::sync::Arc;

use keygate_core::crypto::Digest;
use keygate_core::permission::KeyScope;
use keygate_core::{AccountId, ClientId, EventId, OrgId, Role, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRecord {
    pub org_id: OrgId,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub account_id: AccountId,
    pub org_id: OrgId,
    pub name: String,
    pub created_at: i64,
}

/// A person. `password_hash` is an argon2id PHC string.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_id: UserId,
    pub email: String,
    pub password_hash: String,
    pub created_at: i64,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub created_at: i64,
}

/// One of a user's organizations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub org_id: OrgId,
    pub org_name: String,
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// SHA-256 of the session token; the token itself is never stored.
    pub session_hash: Digest,
    pub user_id: UserId,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Admin,
    Scoped,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Admin => "admin",
            KeyKind::Scoped => "scoped",
        }
    }
}

/// An API key as stored: never the secret, only its keyed digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub client_id: ClientId,
    pub org_id: OrgId,
    pub kind: KeyKind,
    /// For admin keys, the org or account id the key belongs to.
    pub owner_id: Option<String>,
    pub name: String,
    pub secret_hash: Digest,
    /// Starts at 1; every regenerate adds one.
    pub generation: u64,
    pub scope: KeyScope,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What the credential cache keeps of a key: no name, no owner, no times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCredential {
    pub client_id: ClientId,
    pub org_id: OrgId,
    pub secret_hash: Digest,
    pub generation: u64,
    pub scope: Arc<KeyScope>,
}

impl From<&KeyRecord> for KeyCredential {
    fn from(k: &KeyRecord) -> KeyCredential {
        KeyCredential {
            client_id: k.client_id.clone(),
            org_id: k.org_id.clone(),
            secret_hash: k.secret_hash,
            generation: k.generation,
            scope: Arc::new(k.scope.clone()),
        }
    }
}

/// Something that happened, for the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Assigned by the store: the order events were written in.
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
}

#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub org_id: OrgId,
    pub client_id: Option<ClientId>,
    pub before: Option<i64>,
    pub limit: u32,
}
