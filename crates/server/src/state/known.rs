//! Browsers and addresses a user has signed in from before.
//!
//! Failed sign-ins are limited per email against password spraying; on its
//! own that lets anyone who knows an email lock its owner out, again and
//! again. So a sign-in from a *known device* (a browser holding the signed
//! `keygate_device` cookie of that user) or from one of the user's *usual
//! addresses* is counted in its own per-(user, device) or per-(user, address)
//! bucket instead (see docs/people.md, "Passwords, sign-in limits and second factors").
//!
//! - The device cookie is `<user id>.<device id>.<HMAC>`, the HMAC keyed with a
//!   key derived from the pepper (every instance sharing the pepper accepts
//!   it) over the user id and device id. It is set on every successful
//!   sign-in and says nothing secret: it does not sign anyone in.
//! - Usual addresses are kept in memory, per instance: the last
//!   [`MAX_ADDRESSES`] source IPs of successful sign-ins per user, for
//!   [`ADDRESS_TTL`]. Forgotten at restart; the cookie is the durable path.
//!   (The sessions table holds no address, and reading the audit log on every
//!   sign-in attempt would put an anonymous query on the database.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use keygate_core::crypto::{Digest, Pepper, random_base62};

pub const DEVICE_COOKIE: &str = "keygate_device";
/// How long a browser stays known without signing in again.
pub const DEVICE_MAX_AGE_SECS: i64 = 180 * 24 * 60 * 60;
const MAX_ADDRESSES: usize = 8;
const ADDRESS_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);
const MAX_USERS: usize = 100_000;

pub struct KnownSignIns {
    key: Pepper,
    addresses: Mutex<HashMap<String, Vec<(String, Instant)>>>,
}

impl KnownSignIns {
    pub fn new(pepper: &Pepper) -> KnownSignIns {
        let derived = pepper.digest(b"keygate known device cookies v1");
        KnownSignIns {
            key: Pepper::new(&derived.0),
            addresses: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, user_id: &str, device: &str) -> Digest {
        self.key.digest(format!("{user_id}\n{device}").as_bytes())
    }

    /// The device id in `cookie` if it is genuine and was issued to `user_id`.
    pub fn device<'c>(&self, cookie: &'c str, user_id: &str) -> Option<&'c str> {
        let mut parts = cookie.rsplitn(3, '.');
        let mac = Digest::from_hex(parts.next()?)?;
        let device = parts.next()?;
        let user = parts.next()?;
        (user == user_id && !device.is_empty() && mac.ct_eq(&self.mac(user, device)))
            .then_some(device)
    }

    /// The user a genuine device cookie was issued to (any user): lets a
    /// sign-in skip the per-address fast refusal before the database is
    /// asked who the email's user is; [`KnownSignIns::device`] then checks it
    /// is that user's.
    pub fn cookie_user<'c>(&self, cookie: &'c str) -> Option<&'c str> {
        let user = cookie.rsplitn(3, '.').nth(2)?;
        self.device(cookie, user).map(|_| user)
    }

    /// The cookie value to set after `user_id` signed in: the same device id
    /// when the browser already had one for this user, else a new one.
    pub fn cookie_for(&self, user_id: &str, current: Option<&str>) -> String {
        let device = current
            .and_then(|c| self.device(c, user_id))
            .map(str::to_owned)
            .unwrap_or_else(|| random_base62(22));
        let mac = self.mac(user_id, &device);
        format!("{user_id}.{device}.{}", mac.to_hex())
    }

    /// Whether `user_id` signed in successfully from `ip` recently.
    pub fn is_usual(&self, user_id: &str, ip: &str) -> bool {
        let map = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        map.get(user_id).is_some_and(|v| {
            v.iter()
                .any(|(a, at)| a == ip && at.elapsed() < ADDRESS_TTL)
        })
    }

    pub fn remember(&self, user_id: &str, ip: &str) {
        if ip.is_empty() {
            return;
        }
        let mut map = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_USERS && !map.contains_key(user_id) {
            map.retain(|_, v| v.iter().any(|(_, at)| at.elapsed() < ADDRESS_TTL));
            if map.len() >= MAX_USERS {
                return;
            }
        }
        let list = map.entry(user_id.to_owned()).or_default();
        list.retain(|(a, at)| a != ip && at.elapsed() < ADDRESS_TTL);
        if list.len() >= MAX_ADDRESSES {
            list.remove(0);
        }
        list.push((ip.to_owned(), Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_cookie_is_bound_to_its_user_and_cannot_be_forged() {
        let k = KnownSignIns::new(&Pepper::new(b"p"));
        let c = k.cookie_for("usr_1", None);
        let d = k.device(&c, "usr_1").unwrap().to_owned();
        assert!(k.device(&c, "usr_2").is_none());
        assert_eq!(k.cookie_for("usr_1", Some(&c)), c, "same device id kept");
        let forged = c.replacen("usr_1", "usr_2", 1);
        assert!(k.device(&forged, "usr_2").is_none());
        let other = KnownSignIns::new(&Pepper::new(b"q"));
        assert!(other.device(&c, "usr_1").is_none());
        assert!(k.device(&format!("usr_1.{d}.00"), "usr_1").is_none());
        assert_eq!(k.cookie_user(&c), Some("usr_1"));
        assert_eq!(k.cookie_user(&forged), None);
        assert_eq!(k.cookie_user("usr_1"), None);
    }

    #[test]
    fn usual_addresses_are_the_last_few_of_each_user() {
        let k = KnownSignIns::new(&Pepper::new(b"p"));
        k.remember("u", "10.0.0.1");
        assert!(k.is_usual("u", "10.0.0.1"));
        assert!(!k.is_usual("v", "10.0.0.1"));
        for i in 0..MAX_ADDRESSES {
            k.remember("u", &format!("10.0.1.{i}"));
        }
        assert!(!k.is_usual("u", "10.0.0.1"), "the oldest is dropped");
        assert!(k.is_usual("u", "10.0.1.0"));
    }
}
