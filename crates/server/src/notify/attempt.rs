//! How one delivery attempt ended, for the delivery log, and when the next
//! one comes.

use keygate_core::crypto::random_bytes;

/// Retry delays double up to this many times, then stay (about 2.3 h with the
/// default 4 s base).
const MAX_DOUBLINGS: u32 = 11;

/// An answer that counts as delivered.
#[derive(Debug)]
pub struct Sent {
    pub status_code: Option<u16>,
}

/// Why an attempt failed, for the delivery log. Never holds a secret.
#[derive(Debug)]
pub struct Failure {
    pub status_code: Option<u16>,
    pub error: String,
}

impl Failure {
    pub fn new(status_code: Option<u16>, error: impl Into<String>) -> Failure {
        let mut error: String = error.into();
        error.truncate(300);
        Failure { status_code, error }
    }
}

/// Delay before retry number `attempt` (1 after the first failure):
/// exponential from `base_ms`, with jitter of ±50 % so that receivers coming
/// back up are not hit by every retry at once.
pub fn retry_delay_ms(base_ms: u64, attempt: u32) -> i64 {
    let exp = base_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(MAX_DOUBLINGS));
    let [a, b] = random_bytes::<2>();
    let jitter = 0.5 + f64::from(u16::from_le_bytes([a, b])) / 65_536.0;
    (exp as f64 * jitter) as i64
}
