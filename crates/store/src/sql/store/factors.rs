//! [`FactorStore`] on the SQL layer: the inherent methods of the same names in
//! `passkeys.rs` and `two_factor.rs`.

use async_trait::async_trait;
use keygate_core::crypto::Digest;
use keygate_core::{OrgId, PasskeyId, SessionFactors, UserId};

use crate::sql::{SqlStore, impl_for_sql_store};
use crate::{
    AuditEvent, FactorStore, PasskeyChallengeRecord, PasskeyPurpose, PasskeyRecord, Result,
    TwoFactorRecord, UserMail,
};

impl_for_sql_store! {
    #[async_trait]
    impl FactorStore for SqlStore {
        async fn passkeys(&self, user_id: &UserId) -> Result<Vec<PasskeyRecord>> {
            SqlStore::passkeys(self, user_id).await
        }

        async fn passkey_by_credential(
            &self,
            credential_id: &str,
        ) -> Result<Option<PasskeyRecord>> {
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
            SqlStore::use_passkey(self, passkey_id, seen_count, sign_count, dynamic_state, now)
                .await
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

        async fn disable_two_factor(
            &self,
            user_id: &UserId,
            audit: &[AuditEvent],
            mail: &[UserMail],
        ) -> Result<()> {
            SqlStore::disable_two_factor(self, user_id, audit, mail).await
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
            SqlStore::create_two_factor_challenge(self, challenge_hash, user_id, now, expires_at)
                .await
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
    }
}
