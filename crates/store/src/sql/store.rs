//! The `Store` trait on the shared SQL layer: each method is the inherent one of
//! the same name in `orgs.rs`, `members.rs`, `sessions.rs`, `people.rs`, `passwords.rs`, `keys.rs`, `policies.rs`, `audit.rs`, `usage.rs`, `notifications.rs` or `schema.rs`, or the
//! database's own (`Sql`).

use async_trait::async_trait;
use keygate_core::crypto::Digest;
use keygate_core::network::Networks;
use keygate_core::policy::KeyPolicy;
use keygate_core::{
    AccountId, AuditStreamId, ClientId, DeliveryId, InvitationId, OnLeak, OrgId, PasskeyId,
    RateLimit, Role, SessionFactors, SessionId, UserId, WebhookId,
};

use super::{Sql, SqlStore};
use crate::{
    AccountRecord, AttemptOutcome, AttemptRecord, AuditEvent, AuditQuery, AuditStreamRecord,
    ChainCheck, ChangeFeed, CreditsUse, DeliveryQuery, DeliveryRecord, DueDelivery,
    InvitationRecord, KeyCredential, KeyEdit, KeyNotice, KeyRecord, LastUsed, MemberRecord,
    Membership, Migration, OperatorTokenRecord, OperatorWebhookRecord, OrgProfile, OrgQuery,
    OrgRecord, OutboxStats, PasskeyChallengeRecord, PasskeyPurpose, PasskeyRecord,
    PasswordResetRecord, PlanRecord, PoolStats, QuotaThreshold, Result, Rotation, SessionRecord,
    SettledCredits, SsoSettingsRecord, Store, TwoFactorRecord, UnusedKey, UsageBatch, UsageCounts,
    UsageQuery, UsageTable, UserMail, UserRecord, WebhookRecord,
};

#[async_trait]
impl<DB: Sql> Store for SqlStore<DB>
where
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::ColumnIndex<DB::Row>,
    for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB>,
    for<'q, 'r> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'q, 'r> bool: sqlx::Encode<'q, DB> + sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    async fn subscribe_changes(&self, now_ms: fn() -> i64) -> Result<Option<ChangeFeed>> {
        DB::subscribe_changes(self, now_ms).await
    }

    async fn is_empty(&self) -> Result<bool> {
        SqlStore::is_empty(self).await
    }

    async fn create_org(
        &self,
        org: &OrgRecord,
        accounts: &[AccountRecord],
        owner: &UserRecord,
        audit: &AuditEvent,
    ) -> Result<UserId> {
        SqlStore::create_org(self, org, accounts, owner, audit).await
    }

    async fn org(&self, org_id: &OrgId) -> Result<Option<OrgRecord>> {
        SqlStore::org(self, org_id).await
    }

    async fn put_plan(&self, plan: &PlanRecord) -> Result<bool> {
        SqlStore::put_plan(self, plan).await
    }
    async fn plan(&self, plan_id: &str) -> Result<Option<PlanRecord>> {
        SqlStore::plan(self, plan_id).await
    }
    async fn plans(&self) -> Result<Vec<PlanRecord>> {
        SqlStore::plans(self).await
    }
    async fn delete_plan(&self, plan_id: &str) -> Result<()> {
        SqlStore::delete_plan(self, plan_id).await
    }
    async fn org_plans(&self) -> Result<Vec<(OrgId, PlanRecord)>> {
        SqlStore::org_plans(self).await
    }
    async fn org_plan(&self, org_id: &OrgId) -> Result<Option<PlanRecord>> {
        SqlStore::org_plan(self, org_id).await
    }
    async fn allowed_since(&self, since: i64) -> Result<Vec<(OrgId, i64)>> {
        SqlStore::allowed_since(self, since).await
    }
    async fn claim_quota_threshold(&self, t: &QuotaThreshold, audit: &AuditEvent) -> Result<bool> {
        SqlStore::claim_quota_threshold(self, t, audit).await
    }
    async fn settle_credits(&self, uses: &[CreditsUse]) -> Result<Vec<SettledCredits>> {
        SqlStore::settle_credits(self, uses).await
    }
    async fn key_credits(&self) -> Result<Vec<SettledCredits>> {
        SqlStore::key_credits(self).await
    }
    async fn claim_credits_exhausted(
        &self,
        client_id: &ClientId,
        mark: i64,
        audit: &AuditEvent,
    ) -> Result<bool> {
        SqlStore::claim_credits_exhausted(self, client_id, mark, audit).await
    }

    async fn create_operator_webhook(&self, webhook: &OperatorWebhookRecord) -> Result<()> {
        SqlStore::create_operator_webhook(self, webhook).await
    }
    async fn operator_webhooks(&self) -> Result<Vec<OperatorWebhookRecord>> {
        SqlStore::operator_webhooks(self).await
    }
    async fn delete_operator_webhook(&self, webhook_id: &WebhookId) -> Result<()> {
        SqlStore::delete_operator_webhook(self, webhook_id).await
    }
    async fn create_operator_token(&self, token: &OperatorTokenRecord) -> Result<()> {
        SqlStore::create_operator_token(self, token).await
    }
    async fn operator_tokens(&self) -> Result<Vec<OperatorTokenRecord>> {
        SqlStore::operator_tokens(self).await
    }
    async fn operator_token_by_hash(
        &self,
        token_hash: &Digest,
    ) -> Result<Option<OperatorTokenRecord>> {
        SqlStore::operator_token_by_hash(self, token_hash).await
    }
    async fn revoke_operator_token(&self, name: &str) -> Result<()> {
        SqlStore::revoke_operator_token(self, name).await
    }
    async fn create_operator_org(
        &self,
        org: &OrgProfile,
        accounts: &[AccountRecord],
        invitation: &InvitationRecord,
        audit: &[AuditEvent],
        mail: &UserMail,
    ) -> Result<()> {
        SqlStore::create_operator_org(self, org, accounts, invitation, audit, mail).await
    }
    async fn org_profile(&self, org_id: &OrgId) -> Result<Option<OrgProfile>> {
        SqlStore::org_profile(self, org_id).await
    }
    async fn org_profiles(&self, query: &OrgQuery) -> Result<Vec<OrgProfile>> {
        SqlStore::org_profiles(self, query).await
    }
    async fn update_org_profile(&self, org: &OrgProfile, audit: &[AuditEvent]) -> Result<()> {
        SqlStore::update_org_profile(self, org, audit).await
    }
    async fn suspended_orgs(&self) -> Result<Vec<OrgId>> {
        SqlStore::suspended_orgs(self).await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        SqlStore::user_by_email(self, email).await
    }

    async fn user(&self, user_id: &UserId) -> Result<Option<UserRecord>> {
        SqlStore::user(self, user_id).await
    }

    async fn memberships(&self, user_id: &UserId) -> Result<Vec<Membership>> {
        SqlStore::memberships(self, user_id).await
    }

    async fn role(&self, org_id: &OrgId, user_id: &UserId) -> Result<Option<Role>> {
        SqlStore::role(self, org_id, user_id).await
    }

    async fn create_session(&self, session: &SessionRecord, audit: &[AuditEvent]) -> Result<()> {
        SqlStore::create_session(self, session, audit).await
    }

    async fn session_user(&self, session_hash: &Digest, now: i64) -> Result<Option<UserRecord>> {
        SqlStore::session_user(self, session_hash, now).await
    }

    async fn delete_session(&self, session_hash: &Digest) -> Result<()> {
        SqlStore::delete_session(self, session_hash).await
    }

    async fn passkeys(&self, user_id: &UserId) -> Result<Vec<PasskeyRecord>> {
        SqlStore::passkeys(self, user_id).await
    }

    async fn passkey_by_credential(&self, credential_id: &str) -> Result<Option<PasskeyRecord>> {
        SqlStore::passkey_by_credential(self, credential_id).await
    }

    async fn add_passkey(
        &self,
        passkey: &PasskeyRecord,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<()> {
        SqlStore::add_passkey(self, passkey, audit, mail).await
    }

    async fn remove_passkey(
        &self,
        user_id: &UserId,
        passkey_id: &PasskeyId,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<()> {
        SqlStore::remove_passkey(self, user_id, passkey_id, audit, mail).await
    }

    async fn use_passkey(
        &self,
        passkey_id: &PasskeyId,
        seen_count: i64,
        sign_count: i64,
        dynamic_state: &str,
        now: i64,
    ) -> Result<bool> {
        SqlStore::use_passkey(self, passkey_id, seen_count, sign_count, dynamic_state, now).await
    }

    async fn create_passkey_challenge(&self, challenge: &PasskeyChallengeRecord) -> Result<()> {
        SqlStore::create_passkey_challenge(self, challenge).await
    }

    async fn take_passkey_challenge(
        &self,
        challenge_hash: &Digest,
        purpose: PasskeyPurpose,
        now: i64,
    ) -> Result<Option<PasskeyChallengeRecord>> {
        SqlStore::take_passkey_challenge(self, challenge_hash, purpose, now).await
    }

    async fn two_factor(&self, user_id: &UserId) -> Result<Option<TwoFactorRecord>> {
        SqlStore::two_factor(self, user_id).await
    }

    async fn begin_two_factor(&self, user_id: &UserId, sealed: &str, now: i64) -> Result<()> {
        SqlStore::begin_two_factor(self, user_id, sealed, now).await
    }

    async fn enable_two_factor(
        &self,
        user_id: &UserId,
        step: i64,
        recovery_codes: &[Digest],
        current_session: &Digest,
        now: i64,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<()> {
        SqlStore::enable_two_factor(
            self,
            user_id,
            step,
            recovery_codes,
            current_session,
            now,
            audit,
            mail,
        )
        .await
    }

    async fn two_factor_seals(&self) -> Result<Vec<TwoFactorRecord>> {
        SqlStore::two_factor_seals(self).await
    }

    async fn reseal_two_factor(
        &self,
        user_id: &UserId,
        old: &str,
        new: &str,
        now: i64,
    ) -> Result<bool> {
        SqlStore::reseal_two_factor(self, user_id, old, new, now).await
    }

    async fn disable_two_factor(
        &self,
        user_id: &UserId,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<()> {
        SqlStore::disable_two_factor(self, user_id, audit, mail).await
    }

    async fn use_totp_step(&self, user_id: &UserId, step: i64, now: i64) -> Result<bool> {
        SqlStore::use_totp_step(self, user_id, step, now).await
    }

    async fn use_recovery_code(
        &self,
        user_id: &UserId,
        code_hash: &Digest,
        now: i64,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<bool> {
        SqlStore::use_recovery_code(self, user_id, code_hash, now, audit, mail).await
    }

    async fn create_two_factor_challenge(
        &self,
        challenge_hash: &Digest,
        user_id: &UserId,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        SqlStore::create_two_factor_challenge(self, challenge_hash, user_id, now, expires_at).await
    }

    async fn attempt_two_factor_challenge(
        &self,
        challenge_hash: &Digest,
        now: i64,
        max_attempts: i64,
    ) -> Result<Option<UserId>> {
        SqlStore::attempt_two_factor_challenge(self, challenge_hash, now, max_attempts).await
    }

    async fn end_two_factor_challenge(&self, challenge_hash: &Digest) -> Result<()> {
        SqlStore::end_two_factor_challenge(self, challenge_hash).await
    }

    async fn require_two_factor(&self, org_id: &OrgId) -> Result<bool> {
        SqlStore::require_two_factor(self, org_id).await
    }

    async fn set_require_two_factor(
        &self,
        org_id: &OrgId,
        on: bool,
        audit: &AuditEvent,
    ) -> Result<()> {
        SqlStore::set_require_two_factor(self, org_id, on, audit).await
    }

    async fn lacks_required_two_factor(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        factors: SessionFactors,
    ) -> Result<bool> {
        SqlStore::lacks_required_two_factor(self, org_id, user_id, factors).await
    }

    async fn session(
        &self,
        session_hash: &Digest,
        now: i64,
    ) -> Result<Option<(UserRecord, SessionRecord)>> {
        SqlStore::session(self, session_hash, now).await
    }

    async fn touch_session(&self, session_hash: &Digest, now: i64) -> Result<()> {
        SqlStore::touch_session(self, session_hash, now).await
    }

    async fn sessions(
        &self,
        user_id: &UserId,
        now: i64,
        seen_since: i64,
    ) -> Result<Vec<SessionRecord>> {
        SqlStore::sessions(self, user_id, now, seen_since).await
    }

    async fn end_session(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        audit: &[AuditEvent],
    ) -> Result<()> {
        SqlStore::end_session(self, user_id, session_id, audit).await
    }

    async fn create_invitation(
        &self,
        invitation: &InvitationRecord,
        audit: &AuditEvent,
        mail: &UserMail,
    ) -> Result<()> {
        SqlStore::create_invitation(self, invitation, audit, mail).await
    }

    async fn invitations(&self, org_id: &OrgId, now: i64) -> Result<Vec<InvitationRecord>> {
        SqlStore::invitations(self, org_id, now).await
    }

    async fn invitation_by_token(
        &self,
        token_hash: &Digest,
        now: i64,
    ) -> Result<Option<InvitationRecord>> {
        SqlStore::invitation_by_token(self, token_hash, now).await
    }

    async fn withdraw_invitation(
        &self,
        org_id: &OrgId,
        invitation_id: &InvitationId,
        audit: &AuditEvent,
    ) -> Result<()> {
        SqlStore::withdraw_invitation(self, org_id, invitation_id, audit).await
    }

    async fn accept_invitation(
        &self,
        invitation: &InvitationRecord,
        user: &UserRecord,
        new_user: bool,
        session: &SessionRecord,
        audit: &[AuditEvent],
    ) -> Result<()> {
        SqlStore::accept_invitation(self, invitation, user, new_user, session, audit).await
    }

    async fn create_password_reset(
        &self,
        reset: &PasswordResetRecord,
        audit: &[AuditEvent],
        mail: &UserMail,
    ) -> Result<()> {
        SqlStore::create_password_reset(self, reset, audit, mail).await
    }

    async fn password_reset_user(&self, token_hash: &Digest, now: i64) -> Result<Option<UserId>> {
        SqlStore::password_reset_user(self, token_hash, now).await
    }

    async fn complete_password_reset(
        &self,
        token_hash: &Digest,
        user_id: &UserId,
        password_hash: &str,
        now: i64,
        audit: &[AuditEvent],
        mail: &UserMail,
    ) -> Result<()> {
        SqlStore::complete_password_reset(
            self,
            token_hash,
            user_id,
            password_hash,
            now,
            audit,
            mail,
        )
        .await
    }

    async fn change_password(
        &self,
        user_id: &UserId,
        password_hash: &str,
        keep: &Digest,
        audit: &[AuditEvent],
        mail: &UserMail,
    ) -> Result<()> {
        SqlStore::change_password(self, user_id, password_hash, keep, audit, mail).await
    }

    async fn accounts(&self, org_id: &OrgId) -> Result<Vec<AccountRecord>> {
        SqlStore::accounts(self, org_id).await
    }

    async fn all_accounts(&self) -> Result<Vec<AccountRecord>> {
        SqlStore::all_accounts(self).await
    }

    async fn account(&self, account_id: &AccountId) -> Result<Option<AccountRecord>> {
        SqlStore::account(self, account_id).await
    }

    async fn create_account(&self, account: &AccountRecord, audit: &AuditEvent) -> Result<()> {
        SqlStore::create_account(self, account, audit).await
    }

    async fn members(&self, org_id: &OrgId) -> Result<Vec<MemberRecord>> {
        SqlStore::members(self, org_id).await
    }

    async fn set_member_role(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        role: Role,
        audit: &AuditEvent,
        withdrawn: &AuditEvent,
    ) -> Result<()> {
        SqlStore::set_member_role(self, org_id, user_id, role, audit, withdrawn).await
    }

    async fn remove_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        audit: &AuditEvent,
        withdrawn: &AuditEvent,
    ) -> Result<()> {
        SqlStore::remove_member(self, org_id, user_id, audit, withdrawn).await
    }

    async fn keys(&self, org_id: &OrgId) -> Result<Vec<KeyRecord>> {
        SqlStore::keys(self, org_id).await
    }

    async fn key(&self, org_id: &OrgId, client_id: &ClientId) -> Result<Option<KeyRecord>> {
        SqlStore::key(self, org_id, client_id).await
    }

    async fn key_by_client_id(&self, client_id: &ClientId) -> Result<Option<KeyRecord>> {
        SqlStore::key_by_client_id(self, client_id).await
    }

    async fn all_keys(&self) -> Result<Vec<KeyRecord>> {
        SqlStore::all_keys(self).await
    }

    async fn each_key_credential(&self, f: &mut (dyn FnMut(KeyCredential) + Send)) -> Result<()> {
        DB::each_key_credential(self, f).await
    }

    async fn insert_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()> {
        SqlStore::insert_key(self, key, audit).await
    }

    async fn insert_keys(&self, keys: &[KeyRecord], audit: &AuditEvent) -> Result<()> {
        SqlStore::insert_keys(self, keys, audit).await
    }

    async fn regenerate_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        rotation: &Rotation,
        allowed_networks: Option<&Networks>,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord> {
        SqlStore::regenerate_key(
            self,
            org_id,
            client_id,
            rotation,
            allowed_networks,
            now,
            audit,
        )
        .await
    }

    async fn update_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        edit: &KeyEdit<'_>,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord> {
        SqlStore::update_key(self, org_id, client_id, edit, now, audit).await
    }

    async fn set_key_rate_limit(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        rate_limit: Option<RateLimit>,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord> {
        SqlStore::set_key_rate_limit(self, org_id, client_id, rate_limit, now, audit).await
    }

    async fn org_rate_limit(&self, org_id: &OrgId) -> Result<Option<RateLimit>> {
        SqlStore::org_rate_limit(self, org_id).await
    }

    async fn org_rate_limits(&self) -> Result<Vec<(OrgId, RateLimit)>> {
        SqlStore::org_rate_limits(self).await
    }

    async fn set_org_rate_limit(
        &self,
        org_id: &OrgId,
        rate_limit: Option<RateLimit>,
        audit: &AuditEvent,
    ) -> Result<()> {
        SqlStore::set_org_rate_limit(self, org_id, rate_limit, audit).await
    }

    async fn due_key_notices(&self, now: i64, limit: u32) -> Result<Vec<(KeyRecord, u8)>> {
        SqlStore::due_key_notices(self, now, limit).await
    }

    async fn claim_key_notice(
        &self,
        client_id: &ClientId,
        notice: &KeyNotice,
        audit: &AuditEvent,
    ) -> Result<bool> {
        SqlStore::claim_key_notice(self, client_id, notice, audit).await
    }

    async fn key_policy(&self, org_id: &OrgId) -> Result<KeyPolicy> {
        SqlStore::key_policy(self, org_id).await
    }

    async fn set_key_policy(
        &self,
        org_id: &OrgId,
        policy: &KeyPolicy,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<()> {
        SqlStore::set_key_policy(self, org_id, policy, now, audit).await
    }

    async fn delete_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        audit: &AuditEvent,
    ) -> Result<()> {
        SqlStore::delete_key(self, org_id, client_id, audit).await
    }

    async fn record_usage(&self, batch: &UsageBatch) -> Result<()> {
        SqlStore::record_usage(self, batch).await
    }

    async fn usage(&self, query: &UsageQuery) -> Result<Vec<(i64, UsageCounts)>> {
        SqlStore::usage(self, query).await
    }

    async fn usage_by_key(
        &self,
        org_id: &OrgId,
        table: UsageTable,
        from: i64,
        to: i64,
    ) -> Result<Vec<(ClientId, UsageCounts)>> {
        SqlStore::usage_by_key(self, org_id, table, from, to).await
    }

    async fn last_used(&self, org_id: &OrgId) -> Result<Vec<LastUsed>> {
        SqlStore::last_used(self, org_id).await
    }

    async fn prune_usage(&self, minutes_before: i64, days_before: i64) -> Result<u64> {
        SqlStore::prune_usage(self, minutes_before, days_before).await
    }

    async fn unused_keys(&self, now: i64, idle_before: i64, limit: u32) -> Result<Vec<UnusedKey>> {
        SqlStore::unused_keys(self, now, idle_before, limit).await
    }

    async fn claim_unused(
        &self,
        key: &UnusedKey,
        idle_before: i64,
        audit: &AuditEvent,
    ) -> Result<bool> {
        SqlStore::claim_unused(self, key, idle_before, audit).await
    }

    async fn key_by_secret_hash(&self, secret_hash: &Digest) -> Result<Option<KeyRecord>> {
        SqlStore::key_by_secret_hash(self, secret_hash).await
    }

    async fn revoke_exposed_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        secret_hash: &Digest,
        audit: &AuditEvent,
    ) -> Result<bool> {
        SqlStore::revoke_exposed_key(self, org_id, client_id, secret_hash, audit).await
    }

    async fn flag_exposed_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        secret_hash: &Digest,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<bool> {
        SqlStore::flag_exposed_key(self, org_id, client_id, secret_hash, now, audit).await
    }

    async fn on_leak(&self, org_id: &OrgId) -> Result<OnLeak> {
        SqlStore::on_leak(self, org_id).await
    }

    async fn set_on_leak(&self, org_id: &OrgId, on_leak: OnLeak, audit: &AuditEvent) -> Result<()> {
        SqlStore::set_on_leak(self, org_id, on_leak, audit).await
    }

    async fn record_audit(&self, events: &[AuditEvent]) -> Result<()> {
        SqlStore::record_audit(self, events).await
    }

    async fn record_audit_with_mail(
        &self,
        events: &[AuditEvent],
        mails: &[UserMail],
    ) -> Result<()> {
        SqlStore::record_audit_with_mail(self, events, mails).await
    }

    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        SqlStore::audit_events(self, query).await
    }

    async fn verify_audit_chain(&self, org: Option<&OrgId>) -> Result<Vec<ChainCheck>> {
        SqlStore::verify_audit_chain(self, org).await
    }

    async fn put_sso_settings(
        &self,
        settings: &SsoSettingsRecord,
        audit: &AuditEvent,
    ) -> Result<()> {
        SqlStore::put_sso_settings(self, settings, audit).await
    }

    async fn sso_settings(&self, org_id: &OrgId) -> Result<Option<SsoSettingsRecord>> {
        SqlStore::sso_settings(self, org_id).await
    }

    async fn sso_settings_for_domain(&self, domain: &str) -> Result<Option<SsoSettingsRecord>> {
        SqlStore::sso_settings_for_domain(self, domain).await
    }

    async fn delete_sso_settings(&self, org_id: &OrgId, audit: &AuditEvent) -> Result<()> {
        SqlStore::delete_sso_settings(self, org_id, audit).await
    }

    async fn sso_sign_in(
        &self,
        org_id: &OrgId,
        user: &UserRecord,
        new_user: bool,
        join_as: Option<Role>,
        session: &SessionRecord,
        audit: &[AuditEvent],
    ) -> Result<()> {
        SqlStore::sso_sign_in(self, org_id, user, new_user, join_as, session, audit).await
    }

    async fn create_audit_stream(
        &self,
        stream: &AuditStreamRecord,
        audit: &AuditEvent,
    ) -> Result<()> {
        SqlStore::create_audit_stream(self, stream, audit).await
    }

    async fn audit_streams(&self, org_id: &OrgId) -> Result<Vec<AuditStreamRecord>> {
        SqlStore::audit_streams(self, org_id).await
    }

    async fn delete_audit_stream(
        &self,
        org_id: &OrgId,
        stream_id: &AuditStreamId,
        audit: &AuditEvent,
    ) -> Result<()> {
        SqlStore::delete_audit_stream(self, org_id, stream_id, audit).await
    }

    async fn claim_audit_streams(
        &self,
        now: i64,
        limit: u32,
        lease_until: i64,
    ) -> Result<Vec<AuditStreamRecord>> {
        SqlStore::claim_audit_streams(self, now, limit, lease_until).await
    }

    async fn audit_stream_sent(
        &self,
        stream_id: &AuditStreamId,
        from_seq: i64,
        to_seq: i64,
        now: i64,
    ) -> Result<bool> {
        SqlStore::audit_stream_sent(self, stream_id, from_seq, to_seq, now).await
    }

    async fn audit_stream_failed(
        &self,
        stream_id: &AuditStreamId,
        error: &str,
        next_attempt_at: i64,
        now: i64,
    ) -> Result<()> {
        SqlStore::audit_stream_failed(self, stream_id, error, next_attempt_at, now).await
    }

    async fn create_webhook(&self, webhook: &WebhookRecord, audit: &AuditEvent) -> Result<()> {
        SqlStore::create_webhook(self, webhook, audit).await
    }

    async fn webhooks(&self, org_id: &OrgId) -> Result<Vec<WebhookRecord>> {
        SqlStore::webhooks(self, org_id).await
    }

    async fn update_webhook(&self, webhook: &WebhookRecord, audit: &AuditEvent) -> Result<()> {
        SqlStore::update_webhook(self, webhook, audit).await
    }

    async fn delete_webhook(
        &self,
        org_id: &OrgId,
        webhook_id: &WebhookId,
        audit: &AuditEvent,
    ) -> Result<()> {
        SqlStore::delete_webhook(self, org_id, webhook_id, audit).await
    }

    async fn claim_due(&self, now: i64, limit: u32, lease_until: i64) -> Result<Vec<DueDelivery>> {
        SqlStore::claim_due(self, now, limit, lease_until).await
    }

    async fn record_attempt(
        &self,
        delivery_id: &DeliveryId,
        attempt: &AttemptRecord,
        outcome: AttemptOutcome,
    ) -> Result<()> {
        SqlStore::record_attempt(self, delivery_id, attempt, outcome).await
    }

    async fn deliveries(&self, query: &DeliveryQuery) -> Result<Vec<DeliveryRecord>> {
        SqlStore::deliveries(self, query).await
    }

    async fn redeliver(
        &self,
        org_id: &OrgId,
        delivery_id: &DeliveryId,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<()> {
        SqlStore::redeliver(self, org_id, delivery_id, now, audit).await
    }

    async fn outbox_stats(&self) -> Result<Vec<OutboxStats>> {
        SqlStore::outbox_stats(self).await
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        SqlStore::pool_stats(self)
    }

    async fn pending_migrations(&self) -> Result<Vec<Migration>> {
        SqlStore::pending_migrations(self).await
    }

    async fn migrate(&self) -> Result<Vec<Migration>> {
        let applied = SqlStore::migrate(self).await?;
        self.chain_unlinked_audit().await?;
        Ok(applied)
    }
}
