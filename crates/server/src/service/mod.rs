//! Domain actions, between the HTTP handlers and the store.

pub mod account;
pub mod audit;
pub mod audit_streams;
pub mod dpop;
pub mod error;
pub mod federation;
pub mod health;
pub mod invitations;
pub mod key_policy;
pub mod keys;
pub mod leaks;
pub mod operator;
pub mod operator_webhooks;
pub mod orgs;
pub mod passkeys;
pub mod passwords;
pub mod plans;
pub mod sessions;
pub mod sso;
pub mod tokens;
pub mod two_factor;
pub mod usage;
pub mod webhooks;

pub use error::{Error, Need, Result};

/// A signed-in member acting in one organization. The surface that built it
/// has checked the member's role for the action.
#[derive(Debug, Clone)]
pub struct Acting {
    pub user: keygate_store::UserRecord,
    pub org_id: keygate_core::OrgId,
    pub role: keygate_core::Role,
    pub actor: crate::state::audit::Actor,
}
