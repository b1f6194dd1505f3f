//! API keys as JSON: a key with its scope and permissions, the requests that
//! create, edit, duplicate and regenerate one, and rate limits (a key's own
//! and the organization's default).

use keygate_core::permission::{AccountSelection, KeyScope, PermSet, Permission};
use keygate_core::time::format_rfc3339;
use keygate_core::{Catalog, Level, RateLimit};
use keygate_store::{KeyRecord, LastUsed};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::service::keys::{AccountPermissionsInput, LimitChange, Revealed};

pub use super::key_terms::{CreditsDto, FederationRuleDto, RefillDto, federation_in};

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
    #[schema(schema_with = account_selection)]
    pub accounts: AccountSelection,
    pub resources: Vec<PermissionDto>,
}

/// `accounts`: a list of account ids, or `"all"`.
fn account_selection() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
    let one_of = OneOfBuilder::new()
        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["all"])),
        )
        .description(Some(
            "A list of account ids, or the string `\"all\"` (including accounts created later).",
        ))
        .build();
    Schema::OneOf(one_of)
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
    /// The key's own rate limit; `null`: none of its own (the organization's
    /// default applies, if it has one).
    pub rate_limit: Option<RateLimitDto>,
    /// The networks (CIDR) the key may log in from and its tokens may be used
    /// from; empty: anywhere.
    pub allowed_networks: Vec<String>,
    /// Only DPoP-bound tokens (RFC 9449) are issued for this key: login and
    /// `/oauth/token` need a DPoP proof.
    pub require_dpop: bool,
    /// Outside OIDC tokens that `/oauth/token` exchanges for this key's tokens
    /// (RFC 8693); empty: none.
    pub federation: Vec<FederationRuleDto>,
    pub created_at: String,
    pub updated_at: String,
    /// The key's last login or token check (gateway, forward-auth,
    /// introspection), null if never used; written in batches, so up to
    /// `--usage-flush-interval` (default 5 s) behind.
    pub last_used_at: Option<String>,
    /// The client address of that last use.
    pub last_used_ip: Option<String>,
    /// When the key's current secret was reported leaked while the
    /// organization's `on_leak` is `notify`: the key still works; regenerate
    /// it. `null` when not (regenerating clears it).
    pub exposed_at: Option<String>,
    /// When the key stops working (RFC 3339); null: never.
    pub expires_at: Option<String>,
    /// True once `expires_at` has passed: the key no longer logs in and its
    /// tokens are refused.
    pub expired: bool,
    /// While a grace period after a regenerate lasts: when the replaced secret
    /// (and its tokens) stops working. Null otherwise.
    pub previous_secret_expires_at: Option<String>,
    /// The key's credits; null: none (calls are not counted against any).
    /// `remaining` is as of at most a few seconds ago.
    pub credits: Option<CreditsDto>,
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
        let now = crate::state::clock::now_ms();
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
            rate_limit: k.rate_limit.map(RateLimitDto::from),
            allowed_networks: k.allowed_networks.to_strings(),
            require_dpop: k.require_dpop,
            federation: k
                .federation
                .as_slice()
                .iter()
                .cloned()
                .map(FederationRuleDto::from)
                .collect(),
            created_at: format_rfc3339(k.created_at),
            updated_at: format_rfc3339(k.updated_at),
            last_used_at: None,
            last_used_ip: None,
            exposed_at: k.exposed_at.map(format_rfc3339),
            expires_at: k.expires_at.map(format_rfc3339),
            expired: k.expires_at.is_some_and(|t| t <= now),
            previous_secret_expires_at: k
                .previous_secret
                .filter(|p| p.expires_at > now && k.expires_at.is_none_or(|t| t > now))
                .map(|p| format_rfc3339(p.expires_at)),
            credits: k.credits.map(|c| CreditsDto::new(&c, c.remaining_at(now))),
        }
    }

    /// With the key's credits as this instance counts them (what it used
    /// since the last settle taken off).
    pub fn with_credits(
        mut self,
        k: &KeyRecord,
        credits: &crate::state::credits::KeyCredits,
    ) -> KeyView {
        if let Some(c) = &k.credits {
            let now = crate::state::clock::now_ms();
            self.credits = Some(CreditsDto::new(c, credits.remaining(&k.client_id, c, now)));
        }
        self
    }
}

/// A rate limit: at most `requests` allowed token checks (gateway and
/// forward-auth) per `per_seconds`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitDto {
    /// 1 to 1,000,000,000.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub requests: i64,
    /// The window in seconds, 1 to 86400 (a day).
    #[schema(minimum = 1, maximum = 86_400)]
    pub per_seconds: i64,
}

impl From<RateLimit> for RateLimitDto {
    fn from(l: RateLimit) -> RateLimitDto {
        RateLimitDto {
            requests: i64::from(l.requests),
            per_seconds: i64::from(l.per_seconds),
        }
    }
}

impl RateLimitDto {
    /// Checks the limit; errors name `rate_limit.requests` or `rate_limit.per_seconds`.
    pub fn check(self) -> Result<RateLimit, keygate_core::text::Invalid> {
        RateLimit::new(self.requests, self.per_seconds, "rate_limit")
    }
}

/// `"rate_limit"` of a create: absent or `null` is no limit of the key's own.
pub fn new_limit(
    given: Option<RateLimitDto>,
) -> Result<Option<RateLimit>, keygate_core::text::Invalid> {
    given.map(RateLimitDto::check).transpose()
}

/// `"rate_limit"` of an edit: absent keeps it, `null` clears it.
pub fn limit_change(
    given: Option<Option<RateLimitDto>>,
) -> Result<LimitChange, keygate_core::text::Invalid> {
    Ok(match given {
        None => LimitChange::Keep,
        Some(None) => LimitChange::Clear,
        Some(Some(l)) => LimitChange::Set(l.check()?),
    })
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
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
    /// The key's own rate limit; absent or `null`: the organization's default.
    #[serde(default)]
    pub rate_limit: Option<RateLimitDto>,
    /// IPv4/IPv6 networks (CIDR; a bare address is /32 or /128), at most
    /// 100: the key logs in, and its tokens are accepted, only from these.
    /// Absent or empty: anywhere.
    #[serde(default)]
    pub allowed_networks: Option<Vec<String>>,
    /// When the key stops working (RFC 3339, in the future). Absent or null:
    /// never. Checked against the organization's key policy.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

/// An admin key's edit: its rate limit (scope and name are fixed).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminKeyPatch {
    /// The key's own rate limit; `null` clears it (the organization's default
    /// applies); absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimitDto>)]
    pub rate_limit: Option<Option<RateLimitDto>>,
    #[serde(default)]
    pub password: Option<String>,
}

/// The organization's default rate limit, for keys without their own.
#[derive(Serialize, ToSchema)]
pub struct OrgRateLimitView {
    /// `null`: no default (keys without their own limit are not limited).
    pub rate_limit: Option<RateLimitDto>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgRateLimitPatch {
    /// The default for keys without their own limit; `null` clears it;
    /// absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimitDto>)]
    pub rate_limit: Option<Option<RateLimitDto>>,
    #[serde(default)]
    pub password: Option<String>,
}

/// Regenerate: the password, and optionally a grace period for the replaced
/// secret and (admin keys' only way to set one) a new expiry.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRegenerate {
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
    /// Seconds the replaced secret and its tokens keep working: 0 (the
    /// default: at once) to 604800 (7 days), never beyond the key's expiry.
    /// A grace period still running from an earlier regenerate ends now.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 604800)]
    pub previous_secret_expires_in: Option<i64>,
    /// The key's expiry from now on (RFC 3339, in the future); null: never.
    /// Absent: unchanged.
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>, format = DateTime, nullable)]
    pub expires_at: Option<Option<String>>,
    /// IPv4/IPv6 networks (CIDR; a bare address is /32 or /128), at most
    /// 100, from now on. Absent or null: keep the key's; `[]`: anywhere.
    #[serde(default)]
    pub allowed_networks: Option<Vec<String>>,
}

/// A present field as `Some`, so that an explicit null (`Some(None)`) differs
/// from an absent one (`None`, by `#[serde(default)]`).
fn some<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopedKeyCreate {
    pub name: String,
    #[serde(default)]
    pub org_permissions: Vec<PermissionDto>,
    #[serde(default)]
    pub account_permissions: Option<AccountPermissionsDto>,
    /// The key's own rate limit; absent or `null`: the organization's default.
    #[serde(default)]
    pub rate_limit: Option<RateLimitDto>,
    /// IPv4/IPv6 networks (CIDR; a bare address is /32 or /128), at most
    /// 100: the key logs in, and its tokens are accepted, only from these.
    /// Absent or empty: anywhere.
    #[serde(default)]
    pub allowed_networks: Option<Vec<String>>,
    /// Issue only DPoP-bound tokens (RFC 9449). Absent: false.
    #[serde(default)]
    pub require_dpop: Option<bool>,
    /// Credits: `{"remaining": N, "refill"?: {"amount": N, "period": "day"|"month"}}`;
    /// each allowed token check uses one. Absent or null: none.
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<CreditsDto>, nullable)]
    pub credits: Option<Option<serde_json::Value>>,
    /// Workload identity federation: at most 10 rules. Absent or empty: none.
    #[serde(default)]
    pub federation: Option<Vec<FederationRuleDto>>,
    #[serde(default)]
    pub password: Option<String>,
    /// When the key stops working (RFC 3339, in the future). Absent or null: never.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
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
    /// The key's own rate limit; `null` clears it (the organization's default
    /// applies); absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimitDto>)]
    pub rate_limit: Option<Option<RateLimitDto>>,
    /// IPv4/IPv6 networks (CIDR; a bare address is /32 or /128), at most
    /// 100. Absent or null: keep the key's; `[]`: anywhere.
    #[serde(default)]
    pub allowed_networks: Option<Vec<String>>,
    /// Issue only DPoP-bound tokens (RFC 9449). Absent: keep the key's.
    #[serde(default)]
    pub require_dpop: Option<bool>,
    /// Credits: `{"remaining": N, "refill"?: {"amount": N, "period": "day"|"month"}}`;
    /// each allowed token check uses one. Null removes them; absent keeps them (and what was used).
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<CreditsDto>, nullable)]
    pub credits: Option<Option<serde_json::Value>>,
    /// Workload identity federation: at most 10 rules. Absent or null: keep
    /// the key's; `[]`: none.
    #[serde(default)]
    pub federation: Option<Vec<FederationRuleDto>>,
    #[serde(default)]
    pub password: Option<String>,
    /// A new expiry (RFC 3339, in the future); null removes it; absent keeps it.
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>, format = DateTime, nullable)]
    pub expires_at: Option<Option<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopedKeyDuplicate {
    /// Defaults to the original's name with " (copy)".
    #[serde(default)]
    pub name: Option<String>,
    /// The new key's rate limit; absent: the original's; `null`: none of its own.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimitDto>)]
    pub rate_limit: Option<Option<RateLimitDto>>,
    /// Absent or null: the original's allowlist; `[]`: anywhere.
    #[serde(default)]
    pub allowed_networks: Option<Vec<String>>,
    /// Issue only DPoP-bound tokens (RFC 9449). Absent: the original's.
    #[serde(default)]
    pub require_dpop: Option<bool>,
    /// Credits: `{"remaining": N, "refill"?: {"amount": N, "period": "day"|"month"}}`;
    /// each allowed token check uses one. Absent: the original's terms with what it has left; null: none.
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<CreditsDto>, nullable)]
    pub credits: Option<Option<serde_json::Value>>,
    /// Workload identity federation rules. Absent or null: the original's;
    /// `[]`: none.
    #[serde(default)]
    pub federation: Option<Vec<FederationRuleDto>>,
    #[serde(default)]
    pub password: Option<String>,
    /// The new key's expiry (RFC 3339, in the future). Absent or null: never
    /// (the original's expiry is not copied).
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}
