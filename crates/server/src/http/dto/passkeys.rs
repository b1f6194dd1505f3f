//! What the passkey endpoints read and write. Options and credentials are in
//! the WebAuthn JSON encoding (base64url for binary values).

use keygate_core::time::format_rfc3339;
use keygate_store::PasskeyRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyOptionsRequest {
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignInOptionsRequest {}

#[derive(Serialize, ToSchema)]
pub struct PasskeyOptions {
    /// Send back with the authenticator's answer; valid for 5 minutes and one use.
    pub challenge_id: String,
    /// For `navigator.credentials.create()` (PublicKeyCredentialCreationOptionsJSON)
    /// or `.get()` (PublicKeyCredentialRequestOptionsJSON).
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    pub public_key: Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRegister {
    pub challenge_id: String,
    /// Shown in your list of passkeys, 1 to 100 characters.
    pub name: String,
    /// The RegistrationResponseJSON of `navigator.credentials.create()`.
    #[schema(value_type = Object)]
    pub credential: Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignIn {
    pub challenge_id: String,
    /// The AuthenticationResponseJSON of `navigator.credentials.get()`.
    #[schema(value_type = Object)]
    pub credential: Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRemove {
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyView {
    pub passkey_id: String,
    pub name: String,
    pub created_at: String,
    /// The last sign-in with it; null before the first.
    pub last_used_at: Option<String>,
}

impl From<&PasskeyRecord> for PasskeyView {
    fn from(p: &PasskeyRecord) -> PasskeyView {
        PasskeyView {
            passkey_id: p.passkey_id.to_string(),
            name: p.name.clone(),
            created_at: format_rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(format_rfc3339),
        }
    }
}

/// The answer to adding a passkey.
#[derive(Serialize, ToSchema)]
pub struct PasskeyCreated {
    pub passkey_id: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyList {
    pub passkeys: Vec<PasskeyView>,
}
