//! What sits below every surface and task: the shared `App`, the credential
//! cache, the limits, the usage recorder, metrics, the clock, settings and
//! secrets.

pub mod app;
pub mod attempts;
pub mod audit;
pub mod cache;
pub mod clock;
pub mod config;
pub mod credits;
pub mod data_dir;
pub mod dpop_proofs;
pub mod issuer_keys;
pub mod known;
pub mod lanes;
pub mod leak_keys;
pub mod links;
pub mod metrics;
pub mod rate_limits;
pub mod request_id;
pub mod secrets;
pub mod usage;
