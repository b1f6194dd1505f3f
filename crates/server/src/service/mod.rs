//! Domain actions, between the HTTP handlers and the store.

pub mod audit;
pub mod auth;
pub mod keys;
pub mod known;
pub mod orgs;
pub mod passwords;
pub mod sessions;
pub mod webhooks;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
