//! Keygate's domain: identifiers, the API key format, permissions, the resource
//! catalog, the `x-login-as` rules and access-token claims.
//!
//! Everything here is plain computation: no files, sockets or clocks. Callers pass
//! the current time and the secrets in.

pub mod audit_chain;
pub mod catalog;
pub mod credits;
pub mod crypto;
pub mod dpop;
pub mod factors;
pub mod federation;
pub mod ids;
pub mod key;
pub mod leak;
pub mod login;
pub mod network;
pub mod permission;
pub mod policy;
pub mod quota;
pub mod rate_limit;
pub mod role;
pub mod sso;
pub mod text;
pub mod time;
pub mod token;
pub mod totp;

pub use catalog::{Catalog, Level, Resource};
pub use factors::SessionFactors;
pub use ids::{
    AccountId, AuditStreamId, ClientId, DeliveryId, EventId, InvitationId, LoginTarget, OrgId,
    PasskeyId, SessionId, UserId, WebhookId,
};
pub use key::{ApiKey, KeyFormatError};
pub use leak::OnLeak;
pub use login::{LoginError, login_target};
pub use network::Networks;
pub use permission::{Access, AccountSelection, KeyScope, PermSet};
pub use policy::KeyPolicy;
pub use rate_limit::RateLimit;
pub use role::Role;
