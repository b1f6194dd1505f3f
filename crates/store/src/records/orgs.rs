//! Organizations and their accounts, the operator's back office (tokens,
//! profiles, plans and quota thresholds), and an organization's single
//! sign-on settings.

use keygate_core::crypto::Digest;
use keygate_core::{AccountId, OrgId, Role};

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
