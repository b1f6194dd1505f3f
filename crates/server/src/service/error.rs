//! What can go wrong in a domain action, in the domain's words.
//!
//! Services return this; each surface converts it once: the JSON API to
//! `ApiError` (a status and a code), the Developer app to a page, the CLI to a
//! sentence. No service knows how its error will be shown.

use keygate_core::Role;
use keygate_core::text::Invalid;
use keygate_store::StoreError;

/// Who may do something, for the "you need the … role" answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Owner, admin or developer: the Developer app's roles.
    KeyManager,
    /// Owner or admin.
    OrgManager,
    /// The organization's owner.
    Owner,
}

impl Need {
    pub fn allows(self, role: Role) -> bool {
        match self {
            Need::KeyManager => role.can_manage_keys(),
            Need::OrgManager => role.can_manage_org(),
            Need::Owner => role == Role::Owner,
        }
    }

    pub fn sentence(self) -> &'static str {
        match self {
            Need::KeyManager => "you need the Owner, Admin or Developer role",
            Need::OrgManager => "you need the Owner or Admin role",
            Need::Owner => "you need the Owner role",
        }
    }
}

#[derive(Debug)]
pub enum Error {
    /// Bad input; `field` names it (a body field, header or query parameter).
    Invalid { field: String, message: String },
    /// No such object, or one of another organization.
    NotFound,
    /// A uniqueness rule was hit; the text says which.
    Conflict(String),
    /// Bad credentials of any kind (key, client id, session, password at
    /// sign-in): one answer for all of them.
    Unauthorized,
    /// The acting user's password, re-entered to confirm an action, was wrong
    /// or missing.
    PasswordRejected,
    /// Too many failed attempts; try again after this many seconds.
    TooManyAttempts { retry_after_secs: u64 },
    /// A member without the role the action needs.
    Forbidden(Need),
    /// A rule of the domain forbids this, whoever asks (the owner cannot be
    /// removed, say); the text says which.
    NotAllowed(&'static str),
    /// The organization requires two-factor sign-in and the member (or the
    /// owner turning the requirement on) does not have it on.
    TwoFactorRequired,
    /// The person's organization enforces single sign-on: no password (or
    /// passkey) sign-in for its members but the owner.
    SsoRequired,
    /// The key cannot log in as the account named in `x-login-as`.
    LoginAsNotAllowed,
    /// The key's organization is suspended by the operator.
    OrgSuspended,
    /// OAuth `scope` asks for more than the key allows, or is not a list of
    /// `resource:read|write` words.
    InvalidScope,
    /// A DPoP proof sent to get a token does not hold.
    InvalidDpopProof(keygate_core::dpop::ProofError),
    /// The key issues only DPoP-bound tokens and no proof came.
    DpopRequired,
    /// A token exchange's subject token is refused (RFC 8693 §2.2.2).
    SubjectTokenRefused(keygate_core::federation::Refusal),
    /// The database, or something else the action needs, cannot be reached now.
    Unavailable(String),
    /// The credential cache cannot be trusted now (not re-read in time, or its
    /// change feed not confirmed current). Logged in summary by the hot path,
    /// not per request.
    StaleCache,
    /// Too much slow work at once (password checks); retry after this many
    /// seconds.
    Busy { retry_after_secs: u64 },
    /// A bug or a broken invariant; the detail is for the log only.
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: &str, message: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl Error {
    /// Logs the detail of an internal or unavailable error under the trace id
    /// (the request's id, `request_id::trace_id`) and returns the id, for a
    /// surface to show instead of the detail.
    pub fn trace(&self) -> Option<String> {
        let trace_id = crate::state::request_id::trace_id;
        match self {
            Error::Internal(detail) => {
                let trace_id = trace_id();
                tracing::error!(%trace_id, %detail, "internal error");
                Some(trace_id)
            }
            Error::Unavailable(detail) => {
                let trace_id = trace_id();
                tracing::warn!(%trace_id, %detail, "service unavailable");
                Some(trace_id)
            }
            _ => None,
        }
    }
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Error {
        Error::Invalid {
            field: e.source,
            message: e.message,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::NotFound => Error::NotFound,
            StoreError::Conflict(m) => Error::Conflict(m.to_owned()),
            StoreError::Unavailable(m) => Error::Unavailable(m),
            StoreError::Internal(m) => Error::Internal(m),
        }
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Error {
        Error::Internal(format!("{e:#}"))
    }
}
