//! Limits on failed attempts (logins, sign-ins, password confirmations).
//!
//! Only failures count, in fixed windows that expire by themselves, so nobody is
//! locked out for good. Login failures are counted per source IP and per
//! (client id, source IP): an attacker hammering one client id from their own
//! address never blocks the key's owner calling from theirs. Limits are per
//! instance (documented in the README).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct FailureLimiter {
    limit: u32,
    window: Duration,
    map: Mutex<HashMap<String, (Instant, u32)>>,
}

const MAX_TRACKED: usize = 100_000;

impl FailureLimiter {
    pub fn new(limit: u32, window: Duration) -> FailureLimiter {
        FailureLimiter {
            limit,
            window,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when `key` has used up its failures.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some((start, n)) if *n >= self.limit && start.elapsed() < self.window => {
                Err((self.window - start.elapsed()).as_secs() + 1)
            }
            _ => Ok(()),
        }
    }

    pub fn fail(&self, key: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED {
            let window = self.window;
            map.retain(|_, (start, _)| start.elapsed() < window);
        }
        let now = Instant::now();
        let entry = map.entry(key.to_owned()).or_insert((now, 0));
        if entry.0.elapsed() >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

/// The limits Keygate applies.
pub struct Limits {
    /// Failed logins from one IP.
    pub login_ip: FailureLimiter,
    /// Failed logins for one client id from one IP.
    pub login_client: FailureLimiter,
    /// Failed sign-ins for one email (password guessing spread over many IPs).
    pub signin_email: FailureLimiter,
    /// Failed sign-ins from one IP.
    pub signin_ip: FailureLimiter,
    /// Failed password confirmations of one user.
    pub confirm_user: FailureLimiter,
    /// Password reset requests (all of them, not only failures) from one IP.
    pub reset_ip: FailureLimiter,
    /// Password reset mails to one email address.
    pub reset_email: FailureLimiter,
}

impl Default for Limits {
    fn default() -> Limits {
        let minute = Duration::from_secs(60);
        Limits {
            login_ip: FailureLimiter::new(300, minute),
            login_client: FailureLimiter::new(100, minute),
            signin_email: FailureLimiter::new(10, 5 * minute),
            signin_ip: FailureLimiter::new(50, 5 * minute),
            confirm_user: FailureLimiter::new(10, 5 * minute),
            reset_ip: FailureLimiter::new(20, 15 * minute),
            reset_email: FailureLimiter::new(3, 15 * minute),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_over_the_limit_are_refused_until_the_window_ends() {
        let l = FailureLimiter::new(2, Duration::from_millis(50));
        l.fail("a");
        assert!(l.check("a").is_ok());
        l.fail("a");
        assert!(l.check("a").is_err());
        assert!(l.check("b").is_ok());
        std::thread::sleep(Duration::from_millis(60));
        assert!(l.check("a").is_ok());
    }
}
