//! Invitations, password resets and changes, and sessions, as JSON.

use keygate_core::time::format_rfc3339;
use keygate_store::{InvitationRecord, SessionRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationCreate {
    pub email: String,
    /// admin, developer, analyst or viewer.
    pub role: String,
    /// Your current login password.
    #[serde(default)]
    pub password: Option<String>,
}

/// The same fields whether or not the email has an account anywhere.
#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    pub invitation_id: String,
    pub email: String,
    pub role: String,
    /// The member who sent it; `null` for an operator's (`keygate org
    /// invite`), which carries the owner's authority. An invitation is
    /// withdrawn when its inviter is removed or may no longer send it.
    pub invited_by: Option<InviterView>,
    pub expires_at: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct InviterView {
    pub user_id: String,
    pub email: Option<String>,
}

impl From<&InvitationRecord> for InvitationView {
    fn from(i: &InvitationRecord) -> InvitationView {
        InvitationView {
            invitation_id: i.invitation_id.to_string(),
            email: i.email.clone(),
            role: i.role.as_str().to_owned(),
            invited_by: i.invited_by.as_ref().map(|u| InviterView {
                user_id: u.to_string(),
                email: i.invited_by_email.clone(),
            }),
            expires_at: format_rfc3339(i.expires_at),
            created_at: format_rfc3339(i.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationAccept {
    /// The last part of the mailed link.
    pub token: String,
    /// A new password (15 to 256 characters) when the email has no account
    /// yet; otherwise that account's current password.
    pub password: String,
    /// A current two-factor code (or recovery code), for an existing account
    /// with two-factor on.
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct PasswordResetRequested {
    /// Always the same text: the answer does not tell whether the email has an account.
    pub message: &'static str,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetComplete {
    /// The last part of the mailed link.
    pub token: String,
    /// 15 to 256 characters.
    pub new_password: String,
    /// The two-factor code, for an account with two-factor on.
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// Your current password.
    #[serde(default)]
    pub password: Option<String>,
    /// 15 to 256 characters.
    pub new_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// A public id: not the session token, nor derived from it.
    pub session_id: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session this request was made with.
    pub current: bool,
}

impl SessionView {
    pub fn new(s: &SessionRecord, current: &keygate_core::SessionId) -> SessionView {
        SessionView {
            session_id: s.session_id.to_string(),
            created_at: format_rfc3339(s.created_at),
            last_seen_at: format_rfc3339(s.last_seen_at),
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            current: s.session_id == *current,
        }
    }
}
