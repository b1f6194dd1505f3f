//! [`PeopleStore`] on the SQL layer: the inherent methods of the same names in
//! `orgs.rs` (users), `sessions.rs`, `people.rs` (invitations), `passwords.rs`,
//! `members.rs` and `sso.rs`.

use async_trait::async_trait;
use keygate_core::crypto::Digest;
use keygate_core::{InvitationId, OrgId, Role, SessionId, UserId};

use crate::sql::{SqlStore, impl_for_sql_store};
use crate::{
    AuditEvent, InvitationRecord, MemberRecord, Membership, PasswordResetRecord, PeopleStore,
    Result, SessionRecord, SsoSettingsRecord, UserMail, UserRecord,
};

impl_for_sql_store! {
    #[async_trait]
    impl PeopleStore for SqlStore {
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

        async fn create_session(
            &self,
            session: &SessionRecord,
            audit: &[AuditEvent],
        ) -> Result<()> {
            SqlStore::create_session(self, session, audit).await
        }

        async fn session_user(
            &self,
            session_hash: &Digest,
            now: i64,
        ) -> Result<Option<UserRecord>> {
            SqlStore::session_user(self, session_hash, now).await
        }

        async fn delete_session(&self, session_hash: &Digest) -> Result<()> {
            SqlStore::delete_session(self, session_hash).await
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

        async fn password_reset_user(
            &self,
            token_hash: &Digest,
            now: i64,
        ) -> Result<Option<UserId>> {
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
    }
}
