//! The organization's key policy.

use keygate_core::{KeyPolicy, OnLeak};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::service::key_policy::{Breaking, PolicyChanges};

/// Absent → `None` (keep), `null` → `Some(None)` (clear), a value → `Some(Some(v))`.
fn setting<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /dev/v1/orgs/{org_id}/key-policy`: each field absent keeps its
/// setting, `null` clears it (no limit, not required).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct KeyPolicyPatch {
    /// Every key needs an `expires_at` at most this many days (1–3650) after
    /// the change that sets it.
    #[serde(default, deserialize_with = "setting")]
    #[schema(value_type = Option<i64>)]
    pub max_lifetime_days: Option<Option<i64>>,
    /// Every key needs an `expires_at`.
    #[serde(default, deserialize_with = "setting")]
    #[schema(value_type = Option<bool>)]
    pub require_expiry: Option<Option<bool>>,
    /// Every key needs a non-empty `allowed_networks`.
    #[serde(default, deserialize_with = "setting")]
    #[schema(value_type = Option<bool>)]
    pub require_allowed_networks: Option<Option<bool>>,
    /// What a live key reported leaked by secret scanning gets: `revoke`
    /// (deleted; the default) or `notify` (flagged exposed, keeps working).
    /// `null`: back to `revoke`.
    #[serde(default, deserialize_with = "setting")]
    #[schema(value_type = Option<String>)]
    pub on_leak: Option<Option<String>>,
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

impl KeyPolicyPatch {
    pub fn changes(&self) -> PolicyChanges {
        PolicyChanges {
            max_lifetime_days: self.max_lifetime_days,
            require_expiry: self.require_expiry,
            require_allowed_networks: self.require_allowed_networks,
            on_leak: self.on_leak.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KeyPolicyView {
    /// `null`: no limit.
    pub max_lifetime_days: Option<u32>,
    pub require_expiry: bool,
    pub require_allowed_networks: bool,
    /// `revoke` or `notify`: what a live key reported leaked gets.
    pub on_leak: String,
    /// Keys made before the policy that break it. They keep working; an edit
    /// must bring them in line.
    pub breaking_keys: Vec<BreakingKeyView>,
}

#[derive(Serialize, ToSchema)]
pub struct BreakingKeyView {
    pub client_id: String,
    /// `admin` or `scoped`.
    pub kind: String,
    pub name: String,
    /// The fields that break the policy: `expires_at`, `allowed_networks`.
    pub fields: Vec<String>,
}

impl KeyPolicyView {
    pub fn new(p: &KeyPolicy, on_leak: OnLeak, breaking: &[Breaking]) -> KeyPolicyView {
        KeyPolicyView {
            max_lifetime_days: p.max_lifetime_days,
            require_expiry: p.require_expiry,
            require_allowed_networks: p.require_allowed_networks,
            on_leak: on_leak.as_str().to_owned(),
            breaking_keys: breaking
                .iter()
                .map(|b| BreakingKeyView {
                    client_id: b.client_id.to_string(),
                    kind: b.kind.as_str().to_owned(),
                    name: b.name.clone(),
                    fields: b.fields.clone(),
                })
                .collect(),
        }
    }
}
