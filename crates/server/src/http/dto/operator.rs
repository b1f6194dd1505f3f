//! The operator API's bodies.

use std::collections::BTreeMap;

use keygate_core::time::format_rfc3339;
use keygate_store::{AccountRecord, OrgProfile};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::keys::present;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorOrgCreate {
    pub name: String,
    /// Invited as the organization's owner (mailed the link that
    /// `owner_invitation.url` also holds); never given a password.
    pub owner_email: String,
    /// Names of accounts to create.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// The organization's id in your systems; unique.
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub plan_id: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorOrgPatch {
    #[serde(default)]
    pub name: Option<String>,
    /// `null` clears it; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    /// `null` clears it; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub plan_id: Option<Option<String>>,
    /// Replaces the metadata.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendBody {
    /// Shown to the organization's members in the Developer app.
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct OperatorAccount {
    pub account_id: String,
    pub name: String,
}

impl From<&AccountRecord> for OperatorAccount {
    fn from(a: &AccountRecord) -> OperatorAccount {
        OperatorAccount {
            account_id: a.account_id.to_string(),
            name: a.name.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OperatorOrgView {
    pub org_id: String,
    pub name: String,
    pub external_id: Option<String>,
    pub plan_id: Option<String>,
    /// `active` or `suspended`.
    pub status: &'static str,
    /// Why it is suspended (while it is).
    pub suspended_reason: Option<String>,
    pub suspended_at: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: String,
}

impl From<&OrgProfile> for OperatorOrgView {
    fn from(o: &OrgProfile) -> OperatorOrgView {
        OperatorOrgView {
            org_id: o.org_id.to_string(),
            name: o.name.clone(),
            external_id: o.external_id.clone(),
            plan_id: o.plan_id.clone(),
            status: if o.suspended.is_some() {
                "suspended"
            } else {
                "active"
            },
            suspended_reason: o.suspended.as_ref().map(|s| s.reason.clone()),
            suspended_at: o.suspended.as_ref().map(|s| format_rfc3339(s.since)),
            metadata: o.metadata.clone(),
            created_at: format_rfc3339(o.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OwnerInvitation {
    pub invitation_id: String,
    pub expires_at: String,
    /// The link mailed to the owner, for providers who send their own welcome mail.
    pub url: String,
}

#[derive(Serialize, ToSchema)]
pub struct OperatorOrgCreated {
    #[serde(flatten)]
    pub org: OperatorOrgView,
    pub accounts: Vec<OperatorAccount>,
    pub owner_invitation: OwnerInvitation,
}

#[derive(Serialize, ToSchema)]
pub struct OperatorOrgPage {
    pub orgs: Vec<OperatorOrgView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OperatorOrgQuery {
    pub external_id: Option<String>,
    pub plan_id: Option<String>,
    /// `active` or `suspended`.
    pub status: Option<String>,
    /// 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageExportQuery {
    /// RFC 3339; default: the start of this UTC month.
    pub from: Option<String>,
    /// RFC 3339, exclusive; default: now.
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// One key that had calls in the span.
#[derive(Serialize, ToSchema)]
pub struct UsageExportRow {
    pub org_id: String,
    pub external_id: Option<String>,
    pub client_id: String,
    pub allowed: u64,
    pub refused: u64,
}

#[derive(Serialize, ToSchema)]
pub struct UsageExport {
    pub rows: Vec<UsageExportRow>,
}
