//! What the two-factor and organization-policy endpoints read and write.

use keygate_core::time::format_rfc3339;
use keygate_store::OrgRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwoFactorEnrol {
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TwoFactorSecret {
    /// Base32 (RFC 4648, no padding) for typing into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/Keygate:<email>?secret=…&issuer=Keygate&algorithm=SHA1&digits=6&period=30`
    pub otpauth_uri: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwoFactorConfirm {
    /// The current 6-digit code from the authenticator app.
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes, each usable instead of a TOTP code once. Shown once.
    pub recovery_codes: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwoFactorDisable {
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
    /// A current code, or an unused recovery code.
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct TwoFactorChallenge {
    /// Always true: send a code with the challenge to `POST /dev/v1/sessions/two-factor`.
    pub two_factor_required: bool,
    /// Opaque; valid for 5 minutes and one sign-in.
    pub challenge: String,
    pub expires_at: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwoFactorSignIn {
    pub challenge: String,
    /// A 6-digit code, or an unused recovery code.
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    /// Members without two-factor sign-in get 403 `two_factor_required` on
    /// this organization's routes. The owner must have it on to turn this on.
    #[serde(default)]
    pub require_two_factor: Option<bool>,
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OrgView {
    pub org_id: String,
    pub name: String,
    pub require_two_factor: bool,
    pub created_at: String,
}

impl OrgView {
    pub fn new(org: &OrgRecord, require_two_factor: bool) -> OrgView {
        OrgView {
            org_id: org.org_id.to_string(),
            name: org.name.clone(),
            require_two_factor,
            created_at: format_rfc3339(org.created_at),
        }
    }
}
