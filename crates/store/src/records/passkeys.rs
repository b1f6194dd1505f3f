//! Passkeys (WebAuthn credentials) and the challenges of their ceremonies.

use keygate_core::crypto::Digest;
use keygate_core::{PasskeyId, UserId};

/// One registered passkey. The key material is the relying-party library's
/// own encoding (base64url), stored and handed back as it is.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    pub passkey_id: PasskeyId,
    pub user_id: UserId,
    pub name: String,
    /// base64url of the authenticator's credential id.
    pub credential_id: String,
    /// base64url of the user handle the authenticator keeps.
    pub user_handle: String,
    pub static_state: String,
    pub dynamic_state: String,
    /// The last signature counter seen.
    pub sign_count: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl std::fmt::Debug for PasskeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyRecord")
            .field("passkey_id", &self.passkey_id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a ceremony was started for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyPurpose {
    /// Adding a passkey to a signed-in user (who is then `user_id`).
    Register,
    /// Signing in with any passkey (discoverable: no user yet).
    SignIn,
}

impl PasskeyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            PasskeyPurpose::Register => "register",
            PasskeyPurpose::SignIn => "sign_in",
        }
    }
}

/// A started ceremony: the library's server state, taken once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyChallengeRecord {
    /// SHA-256 of the `challenge_id` the client holds.
    pub challenge_hash: Digest,
    pub purpose: PasskeyPurpose,
    pub user_id: Option<UserId>,
    pub server_state: String,
    pub expires_at: i64,
    pub created_at: i64,
}
