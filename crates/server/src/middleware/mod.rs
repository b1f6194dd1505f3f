//! What the surfaces share before their handlers: who is calling (the
//! client's address, the signed-in user and their role) and the cookies
//! Keygate sets.

pub mod access;
pub mod body_deadline;
pub mod client_addr;
pub mod cookies;
pub mod headers;
