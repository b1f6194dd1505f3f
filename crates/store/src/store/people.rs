//! People: users and their memberships, sessions, invitations and
//! passwords, the members of an organization, and single sign-on.

use async_trait::async_trait;
use keygate_core::crypto::Digest;
use keygate_core::{InvitationId, OrgId, Role, SessionId, UserId};

use crate::{
    AuditEvent, InvitationRecord, MemberRecord, Membership, PasswordResetRecord, Result,
    SessionRecord, SsoSettingsRecord, UserMail, UserRecord,
};

/// People and how they join and sign in (passkeys and two-factor are
/// [`FactorStore`](crate::FactorStore)'s).
///
/// One area of [`Store`](crate::Store), implemented for `SqlStore` in
/// `sql/store/people.rs`.
#[async_trait]
pub trait PeopleStore: Send + Sync {
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>>;

    async fn user(&self, user_id: &UserId) -> Result<Option<UserRecord>>;

    async fn memberships(&self, user_id: &UserId) -> Result<Vec<Membership>>;

    async fn role(&self, org_id: &OrgId, user_id: &UserId) -> Result<Option<Role>>;

    // Sessions.

    /// Stores a session under the SHA-256 of its token, with one sign-in event
    /// per organization of the user.
    async fn create_session(&self, session: &SessionRecord, audit: &[AuditEvent]) -> Result<()>;

    /// The user of an unexpired session.
    async fn session_user(&self, session_hash: &Digest, now: i64) -> Result<Option<UserRecord>>;

    async fn delete_session(&self, session_hash: &Digest) -> Result<()>;

    /// An unexpired session (absolute expiry; the idle limit is the caller's)
    /// and its user.
    async fn session(
        &self,
        session_hash: &Digest,
        now: i64,
    ) -> Result<Option<(UserRecord, SessionRecord)>>;

    /// Sets `last_seen_at` (callers do so at most once a minute per session).
    async fn touch_session(&self, session_hash: &Digest, now: i64) -> Result<()>;

    /// The user's sessions unexpired at `now` and seen since `seen_since`, newest first.
    async fn sessions(
        &self,
        user_id: &UserId,
        now: i64,
        seen_since: i64,
    ) -> Result<Vec<SessionRecord>>;

    /// Ends one of the user's sessions by its public id; NotFound when it is
    /// not one of theirs.
    async fn end_session(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        audit: &[AuditEvent],
    ) -> Result<()>;

    // Invitations and passwords. Each change writes its mail (a `UserMail`)
    // in its own transaction.

    /// Conflict when the email is a member, or has a pending invitation to
    /// the organization (expired ones do not count); NotFound when the
    /// inviter may no longer send it (`InvitationRecord::stands`, read in the
    /// transaction).
    async fn create_invitation(
        &self,
        invitation: &InvitationRecord,
        audit: &AuditEvent,
        mail: &UserMail,
    ) -> Result<()>;

    /// Pending, unexpired invitations, newest first.
    async fn invitations(&self, org_id: &OrgId, now: i64) -> Result<Vec<InvitationRecord>>;

    async fn invitation_by_token(
        &self,
        token_hash: &Digest,
        now: i64,
    ) -> Result<Option<InvitationRecord>>;

    /// NotFound unless pending in that organization.
    async fn withdraw_invitation(
        &self,
        org_id: &OrgId,
        invitation_id: &InvitationId,
        audit: &AuditEvent,
    ) -> Result<()>;

    /// Uses the invitation (NotFound unless pending, unexpired and its
    /// inviter may still send it, read in the transaction), creates
    /// `user` when `new_user` (Conflict if the email got an account meanwhile),
    /// the membership and `session`, in one transaction.
    async fn accept_invitation(
        &self,
        invitation: &InvitationRecord,
        user: &UserRecord,
        new_user: bool,
        session: &SessionRecord,
        audit: &[AuditEvent],
    ) -> Result<()>;

    async fn create_password_reset(
        &self,
        reset: &PasswordResetRecord,
        audit: &[AuditEvent],
        mail: &UserMail,
    ) -> Result<()>;

    /// The user of an unused, unexpired reset token.
    async fn password_reset_user(&self, token_hash: &Digest, now: i64) -> Result<Option<UserId>>;

    /// Uses the token (NotFound unless unused, unexpired and the user's), sets
    /// the password, ends all the user's sessions and other reset links.
    async fn complete_password_reset(
        &self,
        token_hash: &Digest,
        user_id: &UserId,
        password_hash: &str,
        now: i64,
        audit: &[AuditEvent],
        mail: &UserMail,
    ) -> Result<()>;

    /// Sets the password and ends the user's sessions other than `keep`.
    async fn change_password(
        &self,
        user_id: &UserId,
        password_hash: &str,
        keep: &Digest,
        audit: &[AuditEvent],
        mail: &UserMail,
    ) -> Result<()>;

    // Members.

    async fn members(&self, org_id: &OrgId) -> Result<Vec<MemberRecord>>;

    /// Changes a member's role (not the owner's). The pending invitations
    /// they sent that the new role may not send (`Role::may_invite_as`) are
    /// withdrawn in the same transaction, each audited as a copy of
    /// `withdrawn` with the invitation's id, email and role added to its details.
    async fn set_member_role(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        role: Role,
        audit: &AuditEvent,
        withdrawn: &AuditEvent,
    ) -> Result<()>;

    /// Removes a member (not the owner) and withdraws every pending
    /// invitation they sent, audited as for `set_member_role`.
    async fn remove_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        audit: &AuditEvent,
        withdrawn: &AuditEvent,
    ) -> Result<()>;

    // Single sign-on.

    /// Creates or replaces the organization's settings and its domain claims,
    /// with `audit`; Conflict when another organization claims a domain.
    async fn put_sso_settings(
        &self,
        settings: &SsoSettingsRecord,
        audit: &AuditEvent,
    ) -> Result<()>;

    async fn sso_settings(&self, org_id: &OrgId) -> Result<Option<SsoSettingsRecord>>;

    /// The settings of the organization that claims the email domain.
    async fn sso_settings_for_domain(&self, domain: &str) -> Result<Option<SsoSettingsRecord>>;

    /// NotFound when the organization has none.
    async fn delete_sso_settings(&self, org_id: &OrgId, audit: &AuditEvent) -> Result<()>;

    /// A sign-in through the provider, in one transaction: `user` when
    /// `new_user` (Conflict if the email got an account meanwhile), the
    /// membership when `join_as` (Conflict if it exists), `session`, `audit`.
    async fn sso_sign_in(
        &self,
        org_id: &OrgId,
        user: &UserRecord,
        new_user: bool,
        join_as: Option<Role>,
        session: &SessionRecord,
        audit: &[AuditEvent],
    ) -> Result<()>;
}
