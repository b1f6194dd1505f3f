//! Organizations: their creation and accounts, the operator's back office
//! (operator tokens, provisioned organizations, their profiles and
//! suspension), and plans with their quotas.

use async_trait::async_trait;
use keygate_core::crypto::Digest;
use keygate_core::{AccountId, OrgId, UserId};

use crate::{
    AccountRecord, AuditEvent, InvitationRecord, OperatorTokenRecord, OrgProfile, OrgQuery,
    OrgRecord, PlanRecord, QuotaThreshold, Result, UserMail, UserRecord,
};

/// Organizations, their accounts, and what the operator keeps of them.
///
/// One area of [`Store`](crate::Store), implemented for `SqlStore` in
/// `sql/store/orgs.rs`.
#[async_trait]
pub trait OrgStore: Send + Sync {
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

    async fn accounts(&self, org_id: &OrgId) -> Result<Vec<AccountRecord>>;

    async fn all_accounts(&self) -> Result<Vec<AccountRecord>>;

    async fn account(&self, account_id: &AccountId) -> Result<Option<AccountRecord>>;

    async fn create_account(&self, account: &AccountRecord, audit: &AuditEvent) -> Result<()>;

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
}
