//! What the single sign-on endpoints read and write. The client secret is
//! read, never written back.

use keygate_core::time::format_rfc3339;
use keygate_store::SsoSettingsRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoSettingsPut {
    /// The provider's issuer URL; its `/.well-known/openid-configuration` is read at once.
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    /// Sealed at rest, never shown again.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Email domains this organization claims (each by one organization only).
    #[serde(default)]
    pub domains: Option<Vec<String>>,
    /// Members in `domains`, except the owner, sign in only through the provider.
    #[serde(default)]
    pub enforce: Option<bool>,
    /// `admin`, `developer`, `analyst` or `viewer`: the role of a person who joins through the provider.
    #[serde(default)]
    pub default_role: Option<String>,
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SsoSettingsView {
    pub issuer: String,
    pub client_id: String,
    pub domains: Vec<String>,
    pub enforce: bool,
    pub default_role: String,
    /// Where the provider sends people back: register it with the provider.
    pub redirect_uri: String,
    pub created_at: String,
    pub updated_at: String,
}

impl SsoSettingsView {
    pub fn new(s: &SsoSettingsRecord, public_url: &str) -> SsoSettingsView {
        SsoSettingsView {
            issuer: s.issuer.clone(),
            client_id: s.client_id.clone(),
            domains: s.domains.clone(),
            enforce: s.enforce,
            default_role: s.default_role.as_str().to_owned(),
            redirect_uri: format!("{public_url}/app/sso/callback"),
            created_at: format_rfc3339(s.created_at),
            updated_at: format_rfc3339(s.updated_at),
        }
    }
}
