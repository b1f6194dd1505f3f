//! What a person proves besides a password, or in its place: passkeys
//! (WebAuthn), two-factor sign-in (TOTP and recovery codes), and an
//! organization's requirement of a second factor.

use async_trait::async_trait;
use keygate_core::crypto::Digest;
use keygate_core::{OrgId, PasskeyId, SessionFactors, UserId};

use crate::{
    AuditEvent, PasskeyChallengeRecord, PasskeyPurpose, PasskeyRecord, Result, TwoFactorRecord,
    UserMail,
};

/// Passkeys and two-factor sign-in.
///
/// One area of [`Store`](crate::Store), implemented for `SqlStore` in
/// `sql/store/factors.rs`.
#[async_trait]
pub trait FactorStore: Send + Sync {
    // Passkeys (WebAuthn).

    /// The user's passkeys, oldest first.
    async fn passkeys(&self, user_id: &UserId) -> Result<Vec<PasskeyRecord>>;

    /// The passkey with this credential id (base64url), whoever's it is.
    async fn passkey_by_credential(&self, credential_id: &str) -> Result<Option<PasskeyRecord>>;

    /// Adds a passkey with its audit events and mail, in one transaction.
    /// Conflict when its credential id is registered already.
    async fn add_passkey(
        &self,
        passkey: &PasskeyRecord,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<()>;

    /// Removes one of the user's passkeys with its audit events and mail.
    /// NotFound when the user has no such passkey.
    async fn remove_passkey(
        &self,
        user_id: &UserId,
        passkey_id: &PasskeyId,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<()>;

    /// Records a sign-in: the new counter and flags, if the counter is still
    /// `seen_count`; false when another sign-in changed it meanwhile.
    async fn use_passkey(
        &self,
        passkey_id: &PasskeyId,
        seen_count: i64,
        sign_count: i64,
        dynamic_state: &str,
        now: i64,
    ) -> Result<bool>;

    /// Stores a started ceremony (and drops expired ones).
    async fn create_passkey_challenge(&self, challenge: &PasskeyChallengeRecord) -> Result<()>;

    /// Takes (deletes) a ceremony for `purpose`; `None` when there is none,
    /// it was taken before, or it expired by `now`.
    async fn take_passkey_challenge(
        &self,
        challenge_hash: &Digest,
        purpose: PasskeyPurpose,
        now: i64,
    ) -> Result<Option<PasskeyChallengeRecord>>;

    // Two-factor sign-in (TOTP).

    /// The user's enrolment, pending or on.
    async fn two_factor(&self, user_id: &UserId) -> Result<Option<TwoFactorRecord>>;

    /// Starts (or restarts) a pending enrolment. Conflict when it is on.
    async fn begin_two_factor(&self, user_id: &UserId, sealed_secret: &str, now: i64)
    -> Result<()>;

    /// Turns a pending enrolment on with its first code's time step, and
    /// replaces the recovery codes; `mail` tells the user. The session it was
    /// confirmed from (`current_session`, which just passed a code) now
    /// counts as made with a second factor, and every other session of the
    /// user ends. NotFound when there is no pending one.
    #[allow(clippy::too_many_arguments)]
    async fn enable_two_factor(
        &self,
        user_id: &UserId,
        step: i64,
        recovery_codes: &[Digest],
        current_session: &Digest,
        now: i64,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<()>;

    /// Turns it off and drops the recovery codes. NotFound when it is not on.
    async fn disable_two_factor(
        &self,
        user_id: &UserId,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<()>;

    /// Every enrolment, pending or on (for the one-time re-seal of secrets
    /// sealed before they were bound to their user).
    async fn two_factor_seals(&self) -> Result<Vec<TwoFactorRecord>>;

    /// Replaces a sealed secret if it is still `old`; false when it changed
    /// meanwhile (another instance re-sealed it, or the user re-enrolled).
    async fn reseal_two_factor(
        &self,
        user_id: &UserId,
        old: &str,
        new: &str,
        now: i64,
    ) -> Result<bool>;

    /// Records `step` as used if it is later than the last used one; false
    /// when it is not (a replayed code).
    async fn use_totp_step(&self, user_id: &UserId, step: i64, now: i64) -> Result<bool>;

    /// Marks an unused recovery code used, with `audit`; false when there is none.
    async fn use_recovery_code(
        &self,
        user_id: &UserId,
        code_hash: &Digest,
        now: i64,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<bool>;

    async fn create_two_factor_challenge(
        &self,
        challenge_hash: &Digest,
        user_id: &UserId,
        now: i64,
        expires_at: i64,
    ) -> Result<()>;

    /// Counts an attempt on an unexpired challenge that has attempts left, and
    /// returns its user.
    async fn attempt_two_factor_challenge(
        &self,
        challenge_hash: &Digest,
        now: i64,
        max_attempts: i64,
    ) -> Result<Option<UserId>>;

    async fn end_two_factor_challenge(&self, challenge_hash: &Digest) -> Result<()>;

    async fn require_two_factor(&self, org_id: &OrgId) -> Result<bool>;

    async fn set_require_two_factor(
        &self,
        org_id: &OrgId,
        on: bool,
        audit: &AuditEvent,
    ) -> Result<()>;

    /// True when the org requires two-factor sign-in and the session of the
    /// user falls short of it: made without a second factor (`factors`), or
    /// the user no longer has that factor (two-factor off now, or, for a
    /// passkey session, no passkey left).
    async fn lacks_required_two_factor(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        factors: SessionFactors,
    ) -> Result<bool>;
}
