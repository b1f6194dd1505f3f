//! [`OrgStore`] on the SQL layer: the inherent methods of the same names in
//! `orgs.rs`, `members.rs` (accounts), `operators.rs` and `plans.rs`.

use async_trait::async_trait;
use keygate_core::crypto::Digest;
use keygate_core::{AccountId, OrgId, UserId};

use crate::sql::{SqlStore, impl_for_sql_store};
use crate::{
    AccountRecord, AuditEvent, InvitationRecord, OperatorTokenRecord, OrgProfile, OrgQuery,
    OrgRecord, OrgStore, PlanRecord, QuotaThreshold, Result, UserMail, UserRecord,
};

impl_for_sql_store! {
    #[async_trait]
    impl OrgStore for SqlStore {
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

        async fn claim_quota_threshold(
            &self,
            t: &QuotaThreshold,
            audit: &AuditEvent,
        ) -> Result<bool> {
            SqlStore::claim_quota_threshold(self, t, audit).await
        }
    }
}
