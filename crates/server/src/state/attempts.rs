//! AttemptLimits on failed attempts (logins, sign-ins, password confirmations).
//!
//! Only failures count, in fixed windows that expire by themselves, so nobody is
//! locked out for good. Login failures are counted per source IP and per
//! (client id, source IP): an attacker hammering one client id from their own
//! address never blocks the key's owner calling from theirs. AttemptLimits are per
//! instance (documented in docs/people.md).
//!
//! Each limit is keyed by what only the attacker it stops can fill. The
//! per-email sign-in limit is filled by anyone who knows an email, so it
//! guards the password step only and never a second factor: a code is asked
//! only of someone who already proved the password (a sign-in challenge) or
//! the mailbox (a reset link), and is limited per challenge (in the store)
//! and per user ([`AttemptLimits::code_user`]).
//!
//! Checks that are slow (argon2 for passwords) *reserve* an attempt before they
//! run and give it back only on success ([`AttemptLimiter::reserve`]): with
//! `check` then a slow verify then `fail`, 30 parallel guesses would all pass the
//! check before the first failure was counted. A reservation that is dropped
//! without [`Reservation::release`] (a failure, or a request cancelled mid-check)
//! stays counted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::state::clock::now_ms;

pub struct AttemptLimiter {
    limit: u32,
    window: Duration,
    /// Per key: when its window started (ms, `clock::now_ms`) and the count.
    map: Mutex<HashMap<String, (i64, u32)>>,
    /// Whether `map` holds anything, kept under its lock: while nothing
    /// failed (the usual case) [`AttemptLimiter::check`] reads only this,
    /// instead of taking a lock that every core's logins share.
    tracking: AtomicBool,
}

const MAX_TRACKED: usize = 100_000;

/// One attempt counted in advance; see [`AttemptLimiter::reserve`].
#[must_use = "a reservation counts as a failure unless released"]
pub struct Reservation<'a> {
    limiter: &'a AttemptLimiter,
    key: String,
    window_start: i64,
}

impl Reservation<'_> {
    /// The attempt succeeded (or never reached the check): it does not count.
    pub fn release(self) {
        let mut map = self.limiter.lock();
        if let Some((start, n)) = map.get_mut(&self.key)
            && *start == self.window_start
        {
            *n = n.saturating_sub(1);
        }
    }
}

impl AttemptLimiter {
    pub fn new(limit: u32, window: Duration) -> AttemptLimiter {
        AttemptLimiter {
            limit,
            window,
            map: Mutex::new(HashMap::new()),
            tracking: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, u32)>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether any failure is counted at all (else [`AttemptLimiter::check`]
    /// passes every key, and its caller need not even make the key).
    pub fn tracking(&self) -> bool {
        self.tracking.load(Ordering::Acquire)
    }

    /// `Err(seconds to wait)` when `key` has used up its failures.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        if !self.tracking() {
            return Ok(());
        }
        let map = self.lock();
        match map.get(key) {
            Some((start, n)) if *n >= self.limit && self.left(*start) > Duration::ZERO => {
                Err(self.left(*start).as_secs() + 1)
            }
            _ => Ok(()),
        }
    }

    pub fn fail(&self, key: &str) {
        let mut map = self.lock();
        self.prune(&mut map);
        let now = now_ms();
        self.tracking.store(true, Ordering::Release);
        let entry = map.entry(key.to_owned()).or_insert((now, 0));
        if self.left(entry.0).is_zero() {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    /// Counts an attempt for `key` now, atomically with the check: at most
    /// `limit` reservations (in flight or failed) exist per window, however
    /// many requests arrive at once. `Err(seconds to wait)` when none is left.
    pub fn reserve(&self, key: &str) -> Result<Reservation<'_>, u64> {
        let mut map = self.lock();
        self.prune(&mut map);
        let now = now_ms();
        self.tracking.store(true, Ordering::Release);
        let entry = map.entry(key.to_owned()).or_insert((now, 0));
        if self.left(entry.0).is_zero() {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            return Err(self.left(entry.0).as_secs() + 1);
        }
        entry.1 += 1;
        Ok(Reservation {
            limiter: self,
            key: key.to_owned(),
            window_start: entry.0,
        })
    }

    /// What is left of a window that started at `start` (zero once it ended;
    /// a clock set back keeps the window no longer than its length).
    fn left(&self, start: i64) -> Duration {
        let elapsed = Duration::from_millis(now_ms().saturating_sub(start).max(0) as u64);
        self.window.saturating_sub(elapsed)
    }

    fn prune(&self, map: &mut HashMap<String, (i64, u32)>) {
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (start, n)| *n > 0 && !self.left(*start).is_zero());
            self.tracking.store(!map.is_empty(), Ordering::Release);
        }
    }
}

/// The limits Keygate applies.
pub struct AttemptLimits {
    /// Failed logins from one IP.
    pub login_ip: AttemptLimiter,
    /// Failed logins for one client id from one IP.
    pub login_client: AttemptLimiter,
    /// Failed sign-ins for one email (password guessing spread over many IPs).
    pub signin_email: AttemptLimiter,
    /// Failed sign-ins for one user from a browser or address that user signed
    /// in from before (see `known`): counted here instead of in
    /// `signin_email`, so a stranger who knows the email cannot lock them out.
    pub signin_known: AttemptLimiter,
    /// Failed sign-ins from one IP. A browser holding the user's known-device
    /// cookie is not refused by it (its own bucket, `signin_known`, limits
    /// it), so strangers behind the owner's shared address (an office NAT)
    /// cannot keep the owner's known browser out.
    pub signin_ip: AttemptLimiter,
    /// Wrong second-factor codes (TOTP or recovery) of one user, across all
    /// their challenges and flows (sign-in, reset link, invitation, turning
    /// two-factor off): opening many challenges with a known password does
    /// not buy more guesses. Only someone past the password or the mailbox
    /// can fill it.
    pub code_user: AttemptLimiter,
    /// Failed password confirmations of one user.
    pub confirm_user: AttemptLimiter,
    /// Password reset requests (all of them, not only failures) from one IP.
    pub reset_ip: AttemptLimiter,
    /// Password reset mails to one email address.
    pub reset_email: AttemptLimiter,
    /// Leaked-key reports (all of them) from one address: each costs a
    /// signature check or a token compare, and a digest lookup per token.
    pub leak_report_ip: AttemptLimiter,
}

impl Default for AttemptLimits {
    fn default() -> AttemptLimits {
        let minute = Duration::from_secs(60);
        AttemptLimits {
            login_ip: AttemptLimiter::new(300, minute),
            login_client: AttemptLimiter::new(100, minute),
            signin_email: AttemptLimiter::new(10, 5 * minute),
            signin_known: AttemptLimiter::new(10, 5 * minute),
            signin_ip: AttemptLimiter::new(50, 5 * minute),
            // A guess hits one of 3 accepted codes in 10^6: 10 per 15 minutes
            // is about 0.3 % a day for someone who holds the password.
            code_user: AttemptLimiter::new(10, 15 * minute),
            confirm_user: AttemptLimiter::new(10, 5 * minute),
            reset_ip: AttemptLimiter::new(20, 15 * minute),
            reset_email: AttemptLimiter::new(3, 15 * minute),
            leak_report_ip: AttemptLimiter::new(60, minute),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_over_the_limit_are_refused_until_the_window_ends() {
        let l = AttemptLimiter::new(2, Duration::from_secs(60));
        l.fail("a");
        assert!(l.check("a").is_ok());
        l.fail("a");
        assert!(
            matches!(l.check("a"), Err(60 | 61)),
            "about a minute to wait"
        );
        assert!(l.check("b").is_ok());
        // A window that started a minute ago has ended.
        l.lock().get_mut("a").unwrap().0 -= 60_000;
        assert!(l.check("a").is_ok());
    }

    #[test]
    fn reservations_count_until_released_and_never_exceed_the_limit() {
        let l = AttemptLimiter::new(2, Duration::from_secs(60));
        let a = l.reserve("k").unwrap();
        let b = l.reserve("k").unwrap();
        assert!(l.reserve("k").is_err(), "two in flight use up the limit");
        a.release();
        let c = l.reserve("k").unwrap();
        drop(b); // a failure: stays counted
        drop(c);
        assert!(l.reserve("k").is_err());
        assert!(l.reserve("other").is_ok());
    }

    #[test]
    fn reservations_from_many_threads_stop_at_the_limit() {
        let l = std::sync::Arc::new(AttemptLimiter::new(10, Duration::from_secs(60)));
        let granted: u32 = (0..30)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || u32::from(l.reserve("k").is_ok()))
            })
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(granted, 10);
    }
}
