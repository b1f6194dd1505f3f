//! People: users, their memberships and sessions, invitations, password
//! resets, two-factor enrolments, and the mails sent to one person.

use keygate_core::crypto::Digest;
use keygate_core::{InvitationId, OrgId, Role, SessionFactors, SessionId, UserId};

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
