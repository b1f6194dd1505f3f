//! The values the store reads and writes. Deliveries, passkeys and usage have
//! files of their own (`records/deliveries.rs`, `records/passkeys.rs`,
//! `records/usage.rs`).

mod deliveries;
mod passkeys;
mod usage;

use std::sync::Arc;

use keygate_core::credits::Credits;
use keygate_core::crypto::Digest;
use keygate_core::federation::FederationRules;
use keygate_core::network::Networks;
use keygate_core::permission::KeyScope;
use keygate_core::{
    AccountId, AuditStreamId, ClientId, EventId, InvitationId, OrgId, RateLimit, Role,
    SessionFactors, SessionId, UserId,
};

pub use deliveries::*;
pub use passkeys::*;
pub use usage::*;

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
    /// Whether the member has two-factor sign-in on.
    pub two_factor: bool,
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
    /// What the sessions list shows and ends a session by.
    pub session_id: SessionId,
    pub user_id: UserId,
    pub created_at: i64,
    pub expires_at: i64,
    /// Updated at most once a minute (see `Store::touch_session`).
    pub last_seen_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// What the user proved to open it: an organization that requires
    /// two-factor admits only sessions made with a second factor.
    pub factors: SessionFactors,
}

/// An invitation to join an organization. The token of its link is stored
/// only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRecord {
    pub invitation_id: InvitationId,
    pub org_id: OrgId,
    /// Filled on reads; ignored when written.
    pub org_name: String,
    pub email: String,
    pub role: Role,
    pub token_hash: Digest,
    /// The member who sent it; `None` for an operator's (`keygate org
    /// invite`), which stands with the owner's authority.
    pub invited_by: Option<UserId>,
    /// Filled on reads; ignored when written: the inviter's email.
    pub invited_by_email: Option<String>,
    /// Filled on reads; ignored when written: the inviter's role in the
    /// organization now (`None` once they are no longer a member).
    pub inviter_role: Option<Role>,
    pub expires_at: i64,
    pub created_at: i64,
}

impl InvitationRecord {
    /// Whether its inviter may still send it (see `Role::may_invite_as`):
    /// accepting it is refused otherwise.
    pub fn stands(&self) -> bool {
        match (&self.invited_by, self.inviter_role) {
            // An operator's invitation carries the owner's authority; the
            // operator API's invitation of a new organization's first owner
            // is the one invitation to the owner role (one owner per
            // organization still holds: the database allows no second).
            (None, _) => self.role == Role::Owner || Role::Owner.may_invite_as(self.role),
            (Some(_), Some(now)) => now.may_invite_as(self.role),
            (Some(_), None) => false,
        }
    }
}

/// A password reset link's token, as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordResetRecord {
    pub token_hash: Digest,
    pub user_id: UserId,
    pub expires_at: i64,
    pub created_at: i64,
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
    /// The key's own rate limit; `None` takes the organization's default.
    pub rate_limit: Option<RateLimit>,
    /// Unix ms after which the key is dead; `None`: never.
    pub expires_at: Option<i64>,
    /// The secret a regenerate with a grace period replaced, while it lives.
    pub previous_secret: Option<PreviousSecret>,
    /// Where the key may be used from; empty: anywhere.
    pub allowed_networks: Networks,
    /// Only DPoP-bound tokens (RFC 9449) are issued for this key.
    pub require_dpop: bool,
    /// Outside OIDC tokens that may be exchanged for this key's tokens (RFC
    /// 8693); empty: none.
    pub federation: FederationRules,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the current secret was reported leaked and the organization's
    /// `on_leak` is `notify` (the key still works); `None` otherwise.
    pub exposed_at: Option<i64>,
    /// The key's credits as last settled; `None`: it has none.
    pub credits: Option<Credits>,
}

/// The secret before the last regenerate, still accepted until `expires_at`
/// (Unix ms). Its tokens carry `generation - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousSecret {
    pub secret_hash: Digest,
    pub expires_at: i64,
}

/// What a regenerate writes (see `Store::regenerate_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// The digest of the new secret.
    pub secret_hash: Digest,
    /// With a grace period: when the replaced secret dies (Unix ms). `None`:
    /// it dies now.
    pub previous_secret_expires_at: Option<i64>,
    /// The key's expiry after the regenerate (`None`: never).
    pub expires_at: Option<i64>,
    /// The key's own rate limit after the regenerate (`None`: none, the
    /// organization's default applies).
    pub rate_limit: Option<RateLimit>,
}

/// What an edit of a scoped key writes (see `Store::update_key`): the values
/// the key has afterwards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyEdit<'a> {
    pub name: &'a str,
    pub scope: &'a KeyScope,
    pub rate_limit: Option<RateLimit>,
    /// `None`: never expires.
    pub expires_at: Option<i64>,
    /// Where the key may be used from; empty: anywhere.
    pub allowed_networks: &'a Networks,
    pub require_dpop: bool,
    /// `None` keeps the key's credits (and what was used of them),
    /// `Some(None)` removes them, `Some(Some(c))` sets new ones.
    pub credits: Option<Option<Credits>>,
    pub federation: &'a FederationRules,
}

/// Credits used on one instance since its last settle (see
/// `Store::settle_credits`): `used` of the setting `set_at`, in the refill
/// period starting `period_start` (0 without a refill).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditsUse {
    pub client_id: ClientId,
    pub set_at: i64,
    pub period_start: i64,
    pub used: i64,
}

/// A key's credits as the database has them after a settle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledCredits {
    pub client_id: ClientId,
    pub remaining: i64,
    pub period_start: i64,
    pub set_at: i64,
}

/// How long before a key's expiry its two warnings go out: 7 days, 1 day.
pub const EXPIRY_WARNINGS_MS: [i64; 2] = [7 * 86_400_000, 86_400_000];

/// A lifecycle notice of one key, claimed once (see `Store::claim_key_notice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyNotice {
    /// The previous secret's grace ended at `at`: clear it.
    PreviousSecretExpired { at: i64 },
    /// The expiry notice stage goes from `from` to `to` (1: expiring within 7
    /// days, 2: within 1 day, 3: expired) for the expiry `expires_at`.
    Expiry { from: u8, to: u8, expires_at: i64 },
}

/// What the credential cache keeps of a key: no name, no owner, no times but
/// the two that end it (its expiry, its previous secret's death).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCredential {
    pub client_id: ClientId,
    pub org_id: OrgId,
    pub secret_hash: Digest,
    pub generation: u64,
    pub scope: Arc<KeyScope>,
    /// The key's own rate limit (the organization's default is cached apart).
    pub rate_limit: Option<RateLimit>,
    pub expires_at: Option<i64>,
    pub previous_secret: Option<PreviousSecret>,
    /// `None`: anywhere (the common case costs the hot path nothing).
    pub allowed_networks: Option<Arc<Networks>>,
    /// Login and `/oauth/token` issue only DPoP-bound tokens.
    pub require_dpop: bool,
    /// The key's credits as last settled; `None`: it has none.
    pub credits: Option<Arc<Credits>>,
}

impl From<&KeyRecord> for KeyCredential {
    fn from(k: &KeyRecord) -> KeyCredential {
        KeyCredential {
            client_id: k.client_id.clone(),
            org_id: k.org_id.clone(),
            secret_hash: k.secret_hash,
            generation: k.generation,
            scope: Arc::new(k.scope.clone()),
            rate_limit: k.rate_limit,
            expires_at: k.expires_at,
            previous_secret: k.previous_secret,
            allowed_networks: (!k.allowed_networks.is_empty())
                .then(|| Arc::new(k.allowed_networks.clone())),
            require_dpop: k.require_dpop,
            credits: k.credits.map(Arc::new),
        }
    }
}

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

/// One migration of the schema, as its file names it
/// (`migrations/<backend>/0010_leaked_previous_secret.sql`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    /// The file name's words: `leaked previous secret`.
    pub description: String,
}

impl std::fmt::Display for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04} {}", self.version, self.description)
    }
}

/// A user's two-factor enrolment. `sealed_secret` is the TOTP secret
/// encrypted under a key derived from the pepper (`keygate_core::totp`).
#[derive(Clone, PartialEq, Eq)]
pub struct TwoFactorRecord {
    pub user_id: UserId,
    pub sealed_secret: String,
    /// `None` while enrolment waits for its first code.
    pub enabled_at: Option<i64>,
    /// The last time step a code was accepted for.
    pub last_step: i64,
}

impl std::fmt::Debug for TwoFactorRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoFactorRecord")
            .field("user_id", &self.user_id)
            .field("enabled_at", &self.enabled_at)
            .finish_non_exhaustive()
    }
}

/// A mail to one person (an invitation, a reset link, "your password was
/// changed"), queued in the outbox in the same transaction as the change that
/// sends it and delivered by the dispatcher with its retries. `text` is the
/// plain-text body; where it holds `{link}`, the dispatcher puts the link
/// (`<public url><path><token>`) derived from `link` and the pepper, so the
/// database never holds the token (see `MailLink`).
#[derive(Clone, PartialEq, Eq)]
pub struct UserMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub link: Option<MailLink>,
}

impl UserMail {
    /// A mail without a link.
    pub fn notice(to: &str, subject: impl Into<String>, text: impl Into<String>) -> UserMail {
        UserMail {
            to: to.to_owned(),
            subject: subject.into(),
            text: text.into(),
            link: None,
        }
    }
}

impl std::fmt::Debug for UserMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserMail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// A link with a single-use token in a [`UserMail`]: the token is
/// HMAC(pepper, nonce), so the outbox row (which holds only the nonce) does not
/// reveal it without the pepper, and the table of the thing it opens keeps only
/// the token's SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct MailLink {
    /// The path before the token, e.g. `/app/invitations/`.
    pub path: String,
    /// 32 random bytes as hex.
    pub nonce: String,
}

/// A key that has not been used since `idle_since` (its last use, or its
/// creation when never used) and was not yet told about for that stretch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusedKey {
    pub client_id: ClientId,
    pub org_id: OrgId,
    pub kind: KeyKind,
    pub name: String,
    pub owner_id: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl UnusedKey {
    pub fn idle_since(&self) -> i64 {
        self.last_used_at.unwrap_or(self.created_at)
    }
}

/// An operator token of the back office (`keygate operator token create`):
/// its name and the HMAC of the token with the pepper, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorTokenRecord {
    pub name: String,
    pub token_hash: Digest,
    pub created_at: i64,
}

/// An organization as the operator sees it: its id in the operator's own
/// systems, its plan, free metadata and whether it is suspended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgProfile {
    pub org_id: OrgId,
    pub name: String,
    pub external_id: Option<String>,
    pub plan_id: Option<String>,
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Set while the organization is suspended: why, and since when.
    pub suspended: Option<Suspension>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspension {
    pub reason: String,
    pub since: i64,
}

/// Which organizations `Store::org_profiles` lists: the filters that are set,
/// after `after` (an org id, the cursor), at most `limit`, by org id.
#[derive(Debug, Clone, Default)]
pub struct OrgQuery {
    pub external_id: Option<String>,
    pub plan_id: Option<String>,
    /// `Some(true)`: only suspended ones; `Some(false)`: only active ones.
    pub suspended: Option<bool>,
    pub after: Option<OrgId>,
    pub limit: u32,
}

/// A plan the operator sells (`PUT /operator/v1/plans/{plan_id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRecord {
    pub plan: keygate_core::quota::Plan,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One `quota.threshold` to claim: `percent` of the organization's `period`
/// quota reached in the period that starts at `period_start` (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuotaThreshold {
    pub org_id: OrgId,
    pub period: keygate_core::quota::Period,
    pub period_start: i64,
    pub percent: u8,
}

/// An organization's single sign-on: its OpenID provider and the email
/// domains it claims (each claimed by one organization at most).
#[derive(Clone, PartialEq, Eq)]
pub struct SsoSettingsRecord {
    pub org_id: OrgId,
    /// As the owner gave it and the provider's discovery document names it.
    pub issuer: String,
    pub client_id: String,
    /// The client secret, sealed (`keygate_core::sso::seal`, bound to the org id).
    pub sealed_secret: String,
    /// Lowercase DNS names.
    pub domains: Vec<String>,
    /// Members in `domains` (not the owner) sign in only through the provider.
    pub enforce: bool,
    /// The role of a person who joins through the provider.
    pub default_role: Role,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for SsoSettingsRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoSettingsRecord")
            .field("org_id", &self.org_id)
            .field("issuer", &self.issuer)
            .field("domains", &self.domains)
            .field("enforce", &self.enforce)
            .finish_non_exhaustive()
    }
}
