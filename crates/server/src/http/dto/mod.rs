//! What the management API reads and writes, as JSON. Times are RFC 3339 UTC.

pub mod people;
pub mod two_factor;
pub mod usage;
pub mod webhooks;

use keygate_core::permission::{AccountSelection, KeyScope, PermSet, Permission};
use keygate_core::time::format_rfc3339;
use keygate_core::{Catalog, Level};
use keygate_store::{
    AccountRecord, AuditEvent, KeyRecord, LastUsed, MemberRecord, Membership, UserRecord,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::service::keys::{AccountPermissionsInput, Revealed};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionCreate {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionCreated {
    /// Send as `Authorization: Bearer <session_token>`. Shown once.
    pub session_token: String,
    pub expires_at: String,
    pub user: UserView,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub user_id: String,
    pub email: String,
    pub created_at: String,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> UserView {
        UserView {
            user_id: u.user_id.to_string(),
            email: u.email.clone(),
            created_at: format_rfc3339(u.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MembershipView {
    pub org_id: String,
    pub org_name: String,
    pub role: String,
}

impl From<&Membership> for MembershipView {
    fn from(m: &Membership) -> MembershipView {
        MembershipView {
            org_id: m.org_id.to_string(),
            org_name: m.org_name.clone(),
            role: m.role.as_str().to_owned(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MeView {
    pub user: UserView,
    pub memberships: Vec<MembershipView>,
}

#[derive(Serialize, ToSchema)]
pub struct AccountView {
    pub account_id: String,
    pub org_id: String,
    pub name: String,
    pub created_at: String,
}

impl From<&AccountRecord> for AccountView {
    fn from(a: &AccountRecord) -> AccountView {
        AccountView {
            account_id: a.account_id.to_string(),
            org_id: a.org_id.to_string(),
            name: a.name.clone(),
            created_at: format_rfc3339(a.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountCreate {
    pub name: String,
    /// Your current login password, to confirm the change.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub created_at: String,
    /// Whether the member has two-factor sign-in on.
    pub two_factor: bool,
}

impl From<&MemberRecord> for MemberView {
    fn from(m: &MemberRecord) -> MemberView {
        MemberView {
            user_id: m.user_id.to_string(),
            email: m.email.clone(),
            role: m.role.as_str().to_owned(),
            created_at: format_rfc3339(m.created_at),
            two_factor: m.two_factor,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    /// admin, developer, analyst or viewer.
    pub role: String,
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ResourceView {
    pub name: String,
    /// `org` or `account`.
    pub level: String,
    pub description: String,
    pub routes: Vec<String>,
}

/// One permission: `{"resource": "balances", "access": "read" | "write"}`.
#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct PermissionDto {
    pub resource: String,
    /// `read` (GET, HEAD) or `write` (every method).
    #[schema(value_type = String)]
    pub access: keygate_core::Access,
}

impl From<PermissionDto> for Permission {
    fn from(p: PermissionDto) -> Permission {
        Permission {
            resource: p.resource,
            access: p.access,
        }
    }
}

fn perms_out(set: &PermSet) -> Vec<PermissionDto> {
    set.iter()
        .map(|(resource, access)| PermissionDto {
            resource: resource.to_owned(),
            access,
        })
        .collect()
}

/// `{"accounts": ["acct_…"] | "all", "resources": [...]}`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPermissionsDto {
    /// A list of account ids, or the string `"all"` (including accounts created later).
    #[schema(value_type = Object)]
    pub accounts: AccountSelection,
    pub resources: Vec<PermissionDto>,
}

impl From<AccountPermissionsDto> for AccountPermissionsInput {
    fn from(a: AccountPermissionsDto) -> AccountPermissionsInput {
        AccountPermissionsInput {
            accounts: a.accounts,
            resources: a.resources.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub client_id: String,
    /// `admin` or `scoped`.
    pub kind: String,
    pub name: String,
    pub org_id: String,
    /// Admin keys: the organization or account id the key belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    pub org_permissions: Vec<PermissionDto>,
    pub account_permissions: AccountPermissionsDto,
    pub created_at: String,
    pub updated_at: String,
    /// The key's last login or token check (gateway, forward-auth,
    /// introspection), null if never used; written in batches, so up to
    /// `--usage-flush-interval` (default 5 s) behind.
    pub last_used_at: Option<String>,
    /// The client address of that last use.
    pub last_used_ip: Option<String>,
}

impl KeyView {
    /// With the key's last use, when it has one.
    pub fn with_last_used(mut self, used: Option<&LastUsed>) -> KeyView {
        if let Some(u) = used {
            self.last_used_at = Some(format_rfc3339(u.at));
            self.last_used_ip = Some(u.ip.clone());
        }
        self
    }

    pub fn new(k: &KeyRecord, catalog: &Catalog) -> KeyView {
        let (org, accounts, resources) = match &k.scope {
            KeyScope::OrgAdmin => (
                PermSet::everything(catalog, Level::Org),
                AccountSelection::none(),
                PermSet::default(),
            ),
            KeyScope::AccountAdmin { account_id } => (
                PermSet::default(),
                AccountSelection::Some([account_id.clone()].into()),
                PermSet::everything(catalog, Level::Account),
            ),
            KeyScope::Scoped {
                org_permissions,
                account_permissions,
            } => (
                org_permissions.clone(),
                account_permissions.accounts.clone(),
                account_permissions.resources.clone(),
            ),
        };
        KeyView {
            client_id: k.client_id.to_string(),
            kind: k.kind.as_str().to_owned(),
            name: k.name.clone(),
            org_id: k.org_id.to_string(),
            owner_id: k.owner_id.clone(),
            org_permissions: perms_out(&org),
            account_permissions: AccountPermissionsDto {
                accounts,
                resources: perms_out(&resources),
            },
            created_at: format_rfc3339(k.created_at),
            updated_at: format_rfc3339(k.updated_at),
            last_used_at: None,
            last_used_ip: None,
        }
    }
}

/// A key with its secret: the only response that ever contains it.
#[derive(Serialize, ToSchema)]
pub struct KeyWithSecret {
    #[serde(flatten)]
    pub key: KeyView,
    /// The API key. Store it now: it is never shown again.
    pub api_key: String,
}

impl KeyWithSecret {
    pub fn new(r: &Revealed, catalog: &Catalog) -> KeyWithSecret {
        KeyWithSecret {
            key: KeyView::new(&r.key, catalog),
            api_key: r.api_key.expose().to_owned(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub admin_keys: Vec<KeyView>,
    pub scoped_keys: Vec<KeyView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminKeyCreate {
    /// The organization id, or one of its account ids.
    pub owner_id: String,
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfirmation {
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopedKeyCreate {
    pub name: String,
    #[serde(default)]
    pub org_permissions: Vec<PermissionDto>,
    #[serde(default)]
    pub account_permissions: Option<AccountPermissionsDto>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopedKeyPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub org_permissions: Option<Vec<PermissionDto>>,
    #[serde(default)]
    pub account_permissions: Option<AccountPermissionsDto>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopedKeyDuplicate {
    /// Defaults to the original's name with " (copy)".
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventView {
    pub event_id: String,
    /// Position in the log; pass the last one as `before` for the next page.
    pub seq: i64,
    pub action: String,
    pub occurred_at: String,
    pub actor_user_id: Option<String>,
    pub actor_email: Option<String>,
    pub client_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<&AuditEvent> for AuditEventView {
    fn from(e: &AuditEvent) -> AuditEventView {
        AuditEventView {
            event_id: e.event_id.to_string(),
            seq: e.seq,
            action: e.action.clone(),
            occurred_at: format_rfc3339(e.occurred_at),
            actor_user_id: e.actor_user_id.as_ref().map(ToString::to_string),
            actor_email: e.actor_email.clone(),
            client_id: e.client_id.as_ref().map(ToString::to_string),
            source_ip: e.source_ip.clone(),
            user_agent: e.user_agent.clone(),
            details: e.details.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// A JWT (EdDSA). Send it as `Authorization: Bearer <token>`.
    pub token: String,
    /// Like `2026-05-12T00:00:00+0000`.
    pub expires_at: String,
}
