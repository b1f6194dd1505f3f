//! The `Store` trait: everything Keygate keeps, behind one interface. One SQL
//! implementation (`sql/`: the queries, row decoding and transactions) serves
//! SQLite ([`sqlite::SqliteStore`]) and PostgreSQL ([`postgres::PgStore`]);
//! each backend folder holds only what its database does differently. Service
//! code sees only these types; no SQL driver type crosses the trait.
//!
//! Every method that changes something takes the audit event that describes the
//! change and writes both in one transaction.

pub mod outbox;
pub mod postgres;
mod records;
mod sql;
pub mod sqlite;

use async_trait::async_trait;
use keygate_core::crypto::Digest;
use keygate_core::network::Networks;
use keygate_core::policy::KeyPolicy;
use keygate_core::{
    AccountId, AuditStreamId, ClientId, DeliveryId, InvitationId, OnLeak, OrgId, PasskeyId,
    RateLimit, Role, SessionFactors, SessionId, UserId, WebhookId,
};

pub use records::*;

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was hit; the text says which, for the person asking.
    #[error("{0}")]
    Conflict(&'static str),
    /// The database cannot be reached right now; a retry may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Internal(String),
}

/// A change to something the credential cache holds, made by this or another
/// Keygate instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    Key(ClientId),
    Account(AccountId),
    /// An organization's settings that the cache holds (its default rate limit).
    Org(OrgId),
    /// Changes may have been missed (the listening connection was lost and is
    /// back): re-read everything.
    Resync,
    /// A heartbeat: every change committed before this Unix time (ms, this
    /// process's clock) came through the feed before this item.
    CurrentAsOf(i64),
}

/// Changes as they commit, in commit order.
pub type ChangeFeed = tokio::sync::mpsc::Receiver<Change>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Changes committed by any instance sharing this database, for keeping
    /// in-memory caches in step. `None` for a database that only this process
    /// writes (SQLite). Listening has begun when this returns.
    /// `now_ms` is the server's clock: heartbeats carry its time, so the
    /// feed's freshness is measured on the clock the server reads.
    async fn subscribe_changes(&self, now_ms: fn() -> i64) -> Result<Option<ChangeFeed>> {
        let _ = now_ms;
        Ok(None)
    }

    /// True when no organization exists yet (`serve --demo` fills such a database).
    async fn is_empty(&self) -> Result<bool>;

    /// Creates an organization, its accounts and its owner. `owner` is a new
    /// user (Conflict when its email already has an account), or, when its
    /// `password_hash` is empty, names the existing account with `owner.email`
    /// (NotFound when there is none), whose password stays as it is. Returns
    /// the owner's user id.
    async fn create_org(
        &self,
        org: &OrgRecord,
        accounts: &[AccountRecord],
        owner: &UserRecord,
        audit: &AuditEvent,
    ) -> Result<UserId>;
    async fn org(&self, org_id: &OrgId) -> Result<Option<OrgRecord>>;

    // The operator's back office.

    /// Conflict when a token has that name.
    async fn create_operator_token(&self, token: &OperatorTokenRecord) -> Result<()>;
    async fn operator_tokens(&self) -> Result<Vec<OperatorTokenRecord>>;
    /// Read from the writer, so a revocation is seen by the next request.
    async fn operator_token_by_hash(
        &self,
        token_hash: &Digest,
    ) -> Result<Option<OperatorTokenRecord>>;
    /// NotFound when no token has that name.
    async fn revoke_operator_token(&self, name: &str) -> Result<()>;
    async fn create_operator_webhook(&self, webhook: &OperatorWebhookRecord) -> Result<()>;
    /// The operator's webhooks, oldest first.
    async fn operator_webhooks(&self) -> Result<Vec<OperatorWebhookRecord>>;
    /// Deletes it and its deliveries; NotFound when there is none.
    async fn delete_operator_webhook(&self, webhook_id: &WebhookId) -> Result<()>;
    /// Creates an organization with its accounts and the invitation of its
    /// owner (and its mail), in one transaction. Conflict when another
    /// organization has the external id.
    async fn create_operator_org(
        &self,
        org: &OrgProfile,
        accounts: &[AccountRecord],
        invitation: &InvitationRecord,
        audit: &[AuditEvent],
        mail: &UserMail,
    ) -> Result<()>;
    async fn org_profile(&self, org_id: &OrgId) -> Result<Option<OrgProfile>>;
    async fn org_profiles(&self, query: &OrgQuery) -> Result<Vec<OrgProfile>>;
    /// Writes name, external id, plan, metadata and suspension (NotFound,
    /// Conflict on the external id); the change feed hears of it.
    async fn update_org_profile(&self, org: &OrgProfile, audit: &[AuditEvent]) -> Result<()>;
    /// The organizations suspended now (the credential cache's flags).
    async fn suspended_orgs(&self) -> Result<Vec<OrgId>>;

    // Plans and quotas.

    /// Creates or replaces a plan (true: created); the organizations on it
    /// are named on the change feed.
    async fn put_plan(&self, plan: &PlanRecord) -> Result<bool>;
    async fn plan(&self, plan_id: &str) -> Result<Option<PlanRecord>>;
    /// Every plan, by id.
    async fn plans(&self) -> Result<Vec<PlanRecord>>;
    /// NotFound, or Conflict while an organization is on the plan.
    async fn delete_plan(&self, plan_id: &str) -> Result<()>;
    /// The plan of every organization that is on one.
    async fn org_plans(&self) -> Result<Vec<(OrgId, PlanRecord)>>;
    async fn org_plan(&self, org_id: &OrgId) -> Result<Option<PlanRecord>>;
    /// Allowed token checks per organization since a UTC day start (Unix ms).
    async fn allowed_since(&self, since: i64) -> Result<Vec<(OrgId, i64)>>;
    /// Claims one `quota.threshold` and writes `audit` (and its outbox rows)
    /// in the same transaction; false when it was claimed before.
    async fn claim_quota_threshold(&self, t: &QuotaThreshold, audit: &AuditEvent) -> Result<bool>;
    /// Subtracts the instances' uses of keys' credits (one transaction, not
    /// on the change feed); what each touched key has left.
    async fn settle_credits(&self, uses: &[CreditsUse]) -> Result<Vec<SettledCredits>>;
    /// What every key with credits has left, as last settled.
    async fn key_credits(&self) -> Result<Vec<SettledCredits>>;
    /// Claims `api_key.credits_exhausted` of the key for `mark` (its setting
    /// or refill period) and writes `audit` in the same transaction; false
    /// when it was claimed before.
    async fn claim_credits_exhausted(
        &self,
        client_id: &ClientId,
        mark: i64,
        audit: &AuditEvent,
    ) -> Result<bool>;

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>>;
    async fn user(&self, user_id: &UserId) -> Result<Option<UserRecord>>;
    async fn memberships(&self, user_id: &UserId) -> Result<Vec<Membership>>;
    async fn role(&self, org_id: &OrgId, user_id: &UserId) -> Result<Option<Role>>;

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

    // People: invitations and passwords. Each change writes its mail (a
    // `UserMail`) in its own transaction.

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

    async fn accounts(&self, org_id: &OrgId) -> Result<Vec<AccountRecord>>;
    async fn all_accounts(&self) -> Result<Vec<AccountRecord>>;
    async fn account(&self, account_id: &AccountId) -> Result<Option<AccountRecord>>;
    async fn create_account(&self, account: &AccountRecord, audit: &AuditEvent) -> Result<()>;

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

    async fn keys(&self, org_id: &OrgId) -> Result<Vec<KeyRecord>>;
    async fn key(&self, org_id: &OrgId, client_id: &ClientId) -> Result<Option<KeyRecord>>;
    /// A key by client id alone, for the credential cache.
    async fn key_by_client_id(&self, client_id: &ClientId) -> Result<Option<KeyRecord>>;
    async fn all_keys(&self) -> Result<Vec<KeyRecord>>;
    /// Every key's hot-path fields, handed to `f` one at a time without holding
    /// them all (the credential cache loads a million keys at start this way).
    /// Keys with the same scope may share one `Arc<KeyScope>`.
    async fn each_key_credential(&self, f: &mut (dyn FnMut(KeyCredential) + Send)) -> Result<()> {
        for k in self.all_keys().await? {
            f(KeyCredential::from(&k));
        }
        Ok(())
    }
    /// Conflict when the owner already has an admin key.
    async fn insert_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()>;
    /// Inserts many keys in few transactions (seeding, imports), with `audit`
    /// written once for the whole batch.
    async fn insert_keys(&self, keys: &[KeyRecord], audit: &AuditEvent) -> Result<()> {
        for (i, k) in keys.iter().enumerate() {
            let mut event = audit.clone();
            if i > 0 {
                event.event_id = keygate_core::EventId::generate();
            }
            self.insert_key(k, &event).await?;
        }
        Ok(())
    }
    /// Replaces the secret and bumps the generation, so every token issued
    /// before stops working; with `rotation.previous_secret_expires_at`, the
    /// replaced secret (and its tokens) keeps working until then. Any older
    /// previous secret dies. Sets the expiry (a changed expiry starts its
    /// notices over). `allowed_networks`, when given, replaces the key's
    /// allowlist in the same change.
    async fn regenerate_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        rotation: &Rotation,
        allowed_networks: Option<&Networks>,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord>;
    /// Edits a scoped key (NotFound for admin keys): name, scope, rate limit,
    /// expiry and allowlist. A changed expiry starts its notices over; a
    /// previous secret's grace is cut to the new expiry.
    async fn update_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        edit: &KeyEdit<'_>,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord>;
    /// Sets or clears the rate limit of a key of either kind.
    async fn set_key_rate_limit(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        rate_limit: Option<RateLimit>,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord>;
    /// An organization's default rate limit for its keys (`NotFound` if no
    /// such organization).
    async fn org_rate_limit(&self, org_id: &OrgId) -> Result<Option<RateLimit>>;
    /// Every organization with a default rate limit, for the credential cache.
    async fn org_rate_limits(&self) -> Result<Vec<(OrgId, RateLimit)>>;
    /// Sets or clears an organization's default rate limit (`Change::Org`).
    async fn set_org_rate_limit(
        &self,
        org_id: &OrgId,
        rate_limit: Option<RateLimit>,
        audit: &AuditEvent,
    ) -> Result<()>;
    /// Deletes a scoped key.
    async fn delete_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        audit: &AuditEvent,
    ) -> Result<()>;
    /// The organization's key policy; the default (no rule) when none was set.
    async fn key_policy(&self, org_id: &OrgId) -> Result<KeyPolicy>;
    /// Replaces the organization's key policy.
    async fn set_key_policy(
        &self,
        org_id: &OrgId,
        policy: &KeyPolicy,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<()>;

    // Leaked keys (secret scanning).

    /// The key whose current secret, or previous secret during a grace
    /// period, has this digest.
    async fn key_by_secret_hash(&self, secret_hash: &Digest) -> Result<Option<KeyRecord>>;
    /// Deletes a key (either kind) reported leaked, with `audit`, if its
    /// secret is still `secret_hash`; false, writing nothing, when not.
    async fn revoke_exposed_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        secret_hash: &Digest,
        audit: &AuditEvent,
    ) -> Result<bool>;
    /// Marks a key reported leaked as exposed, with `audit`, if its secret is
    /// still `secret_hash` and it is not marked yet; false, writing nothing,
    /// when not. Regenerating the key clears the mark.
    async fn flag_exposed_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        secret_hash: &Digest,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<bool>;
    /// What the organization does with a live key reported leaked (NotFound
    /// for no organization).
    async fn on_leak(&self, org_id: &OrgId) -> Result<OnLeak>;
    async fn set_on_leak(&self, org_id: &OrgId, on_leak: OnLeak, audit: &AuditEvent) -> Result<()>;
    /// Keys with a lifecycle notice due at `now`, with their expiry notice
    /// stage: a previous secret whose grace ended, or an expiry warning
    /// (`EXPIRY_WARNINGS_MS`) or expiry not yet sent. At most `limit`.
    async fn due_key_notices(&self, now: i64, limit: u32) -> Result<Vec<(KeyRecord, u8)>>;
    /// Claims one notice with a conditional update (clearing the previous
    /// secret, or moving the expiry notice stage on) and writes `audit` with
    /// it; false, and nothing written, when the notice was already claimed
    /// (by another instance) or the key changed meanwhile.
    async fn claim_key_notice(
        &self,
        client_id: &ClientId,
        notice: &KeyNotice,
        audit: &AuditEvent,
    ) -> Result<bool>;

    // Usage of keys.

    /// Adds one flush of a usage recorder: counts per key and minute (to the
    /// minute and the day tables) and each key's last use (a later use wins).
    async fn record_usage(&self, batch: &UsageBatch) -> Result<()>;
    /// Counts per bucket (minute or UTC day start, Unix ms), summed over the
    /// organization's keys or for one key, only buckets with a row, in order.
    async fn usage(&self, query: &UsageQuery) -> Result<Vec<(i64, UsageCounts)>>;
    /// Counts per key of the organization in `[from, to)`.
    async fn usage_by_key(
        &self,
        org_id: &OrgId,
        table: UsageTable,
        from: i64,
        to: i64,
    ) -> Result<Vec<(ClientId, UsageCounts)>>;
    /// The last use of every key of the organization that was ever used.
    async fn last_used(&self, org_id: &OrgId) -> Result<Vec<LastUsed>>;
    /// Retention: minute rows before `minutes_before`, day rows before
    /// `days_before`, and the activity of deleted keys. Returns rows removed.
    async fn prune_usage(&self, minutes_before: i64, days_before: i64) -> Result<u64>;
    /// Keys idle since before `idle_before` not yet told about (at most
    /// `limit`), leaving out keys expired at `now`.
    async fn unused_keys(&self, now: i64, idle_before: i64, limit: u32) -> Result<Vec<UnusedKey>>;
    /// Claims the `*.unused` notice of `key` with a conditional update and
    /// writes `audit` (and its outbox rows) in the same transaction; false when
    /// another instance claimed it first or the key was used meanwhile.
    async fn claim_unused(
        &self,
        key: &UnusedKey,
        idle_before: i64,
        audit: &AuditEvent,
    ) -> Result<bool>;

    /// Events that change nothing else (failed logins), written in one batch.
    async fn record_audit(&self, events: &[AuditEvent]) -> Result<()>;
    /// Events and mails to single people (`UserMail`) that change nothing else
    /// (a notice that a recovery code was used), in one transaction. A change
    /// that mails writes its mails in its own store call instead
    /// (`SqlStore::commit_with_mail`).
    async fn record_audit_with_mail(&self, events: &[AuditEvent], mails: &[UserMail])
    -> Result<()>;
    /// One organization's events: newest first below `before`, or oldest
    /// first above `after` (seqs of its chain).
    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>>;
    /// Recomputes the hash chain of `org`, or of every organization with
    /// events, from the database (reads only).
    async fn verify_audit_chain(&self, org: Option<&OrgId>) -> Result<Vec<ChainCheck>>;

    // Audit streams (their events are the chain above, read with `after`).

    /// A new stream at `delivered_seq` 0, with `audit`.
    async fn create_audit_stream(
        &self,
        stream: &AuditStreamRecord,
        audit: &AuditEvent,
    ) -> Result<()>;
    async fn audit_streams(&self, org_id: &OrgId) -> Result<Vec<AuditStreamRecord>>;
    /// `NotFound` when the organization has no such stream.
    async fn delete_audit_stream(
        &self,
        org_id: &OrgId,
        stream_id: &AuditStreamId,
        audit: &AuditEvent,
    ) -> Result<()>;
    /// Leases the streams that lag and are due, until `lease_until`.
    async fn claim_audit_streams(
        &self,
        now: i64,
        limit: u32,
        lease_until: i64,
    ) -> Result<Vec<AuditStreamRecord>>;
    /// Moves a leased stream from `from_seq` on to `to_seq` and ends its
    /// lease; false when it was no longer at `from_seq`.
    async fn audit_stream_sent(
        &self,
        stream_id: &AuditStreamId,
        from_seq: i64,
        to_seq: i64,
        now: i64,
    ) -> Result<bool>;
    /// Records a failed attempt and when to try again; ends the lease.
    async fn audit_stream_failed(
        &self,
        stream_id: &AuditStreamId,
        error: &str,
        next_attempt_at: i64,
        now: i64,
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

    // Notifications. Every method above that writes an audit event whose action
    // is a key event (`outbox::KEY_EVENTS`) also writes, in the same transaction,
    // the event's payload (`outbox::event_payload`) and one pending delivery per
    // enabled webhook subscribed to it and per member with an `outbox::EMAIL_ROLES`
    // role.

    async fn create_webhook(&self, webhook: &WebhookRecord, audit: &AuditEvent) -> Result<()>;
    /// The organization's webhooks, oldest first.
    async fn webhooks(&self, org_id: &OrgId) -> Result<Vec<WebhookRecord>>;
    /// Saves url, events, enabled and secret_salt. NotFound when the webhook is
    /// not in `webhook.org_id`.
    async fn update_webhook(&self, webhook: &WebhookRecord, audit: &AuditEvent) -> Result<()>;
    /// Deletes the webhook and its deliveries.
    async fn delete_webhook(
        &self,
        org_id: &OrgId,
        webhook_id: &WebhookId,
        audit: &AuditEvent,
    ) -> Result<()>;

    /// Leases up to `limit` pending deliveries that are due at `now` and not
    /// leased (or whose lease ran out), until `lease_until`, and returns them.
    /// Deliveries of disabled webhooks wait. Written so that several instances
    /// can claim at once without taking the same row (PostgreSQL: `for update
    /// skip locked`).
    async fn claim_due(&self, now: i64, limit: u32, lease_until: i64) -> Result<Vec<DueDelivery>>;
    /// Records one attempt of a claimed delivery, releases its lease and sets
    /// what happens next. A delivery deleted meanwhile is ignored.
    async fn record_attempt(
        &self,
        delivery_id: &DeliveryId,
        attempt: &AttemptRecord,
        outcome: AttemptOutcome,
    ) -> Result<()>;
    /// Newest first, each with its attempts.
    async fn deliveries(&self, query: &DeliveryQuery) -> Result<Vec<DeliveryRecord>>;
    /// Makes a delivery pending again, due now, with a fresh retry window.
    /// Conflict while an attempt is in flight.
    async fn redeliver(
        &self,
        org_id: &OrgId,
        delivery_id: &DeliveryId,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<()>;

    // Operations (the metrics listener).

    /// The pending deliveries of the outbox, per channel (`webhook`, `email`):
    /// how many, and when the oldest was written. Read at each scrape, off the
    /// hot path.
    async fn outbox_stats(&self) -> Result<Vec<OutboxStats>>;
    /// The connection pools' use now; no query.
    fn pool_stats(&self) -> Vec<PoolStats>;

    // The schema.

    /// The migrations this build knows that the database has not had yet,
    /// oldest first. Reads only: a database never migrated has them all.
    async fn pending_migrations(&self) -> Result<Vec<Migration>>;
    /// Applies the pending migrations (on PostgreSQL under sqlx's advisory
    /// lock, so several instances may run it at once) and returns those that
    /// were pending when it started.
    async fn migrate(&self) -> Result<Vec<Migration>>;
}

/// Whether an account exists in one organization.
pub fn account_in(accounts: &[AccountRecord], id: &AccountId) -> bool {
    accounts.iter().any(|a| a.account_id == *id)
}
