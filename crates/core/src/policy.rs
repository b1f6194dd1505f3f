//! An organization's key policy: rules every key it creates or edits must
//! meet. Keys that were there before a rule was set are not changed; they are
//! listed as breaking it (see [`KeyPolicy::breaches`]) until someone edits them.

use crate::network::Networks;
use crate::text::Invalid;

const DAY_MS: i64 = 86_400_000;

/// What an owner set; the default is no rule at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPolicy {
    /// Every key must have an `expires_at`, at most this many days after the
    /// change that sets it (creation, duplicate, edit, regenerate): a key
    /// without an expiry would live longer.
    pub max_lifetime_days: Option<u32>,
    /// Every key must have an `expires_at`.
    pub require_expiry: bool,
    /// Every key must have a non-empty `allowed_networks`.
    pub require_allowed_networks: bool,
}

/// The key as a policy sees it after a change.
#[derive(Debug, Clone, Copy)]
pub struct KeyFacts<'a> {
    /// Unix ms.
    pub expires_at: Option<i64>,
    pub allowed_networks: &'a Networks,
}

impl KeyPolicy {
    /// Largest `max_lifetime_days` an owner may set (ten years).
    pub const MAX_LIFETIME_DAYS: u32 = 3650;

    /// The first rule `key` breaks if it is written at `now_ms`, as the
    /// validation error of the field to fix: `expires_at` or
    /// `allowed_networks`.
    pub fn check(&self, key: KeyFacts<'_>, now_ms: i64) -> Result<(), Invalid> {
        match self.breaches(key, now_ms).into_iter().next() {
            Some(b) => Err(b),
            None => Ok(()),
        }
    }

    /// Every rule `key` breaks at `now_ms`, for the list of existing keys that
    /// a newly set policy does not fit.
    pub fn breaches(&self, key: KeyFacts<'_>, now_ms: i64) -> Vec<Invalid> {
        let mut out = Vec::new();
        match key.expires_at {
            None if self.require_expiry || self.max_lifetime_days.is_some() => {
                out.push(Invalid::new(
                    "expires_at",
                    "this organization's key policy requires an expiry date (expires_at)",
                ));
            }
            Some(at) => {
                if let Some(days) = self.max_lifetime_days
                    && at > now_ms.saturating_add(i64::from(days) * DAY_MS)
                {
                    out.push(Invalid::new(
                        "expires_at",
                        format!(
                            "this organization's key policy allows keys to live at most {days} \
                             days: expires_at must be within {days} days from now"
                        ),
                    ));
                }
            }
            None => {}
        }
        if self.require_allowed_networks && key.allowed_networks.is_empty() {
            out.push(Invalid::new(
                "allowed_networks",
                "this organization's key policy requires a network allowlist (allowed_networks)",
            ));
        }
        out
    }

    /// Checks a lifetime an owner sends.
    pub fn check_lifetime(days: i64, field: &str) -> Result<u32, Invalid> {
        match u32::try_from(days) {
            Ok(d) if (1..=Self::MAX_LIFETIME_DAYS).contains(&d) => Ok(d),
            _ => Err(Invalid::new(
                field,
                format!(
                    "must be a whole number of days from 1 to {}",
                    Self::MAX_LIFETIME_DAYS
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_names_its_field() {
        let none = Networks::default();
        let some = Networks::parse(&["10.0.0.0/8"], "allowed_networks").unwrap();
        let now = 1_000 * DAY_MS;
        let p = KeyPolicy {
            max_lifetime_days: Some(30),
            require_expiry: true,
            require_allowed_networks: true,
        };
        let facts = |expires_at, allowed_networks| KeyFacts {
            expires_at,
            allowed_networks,
        };
        assert_eq!(
            p.check(facts(None, &some), now).unwrap_err().source,
            "expires_at"
        );
        assert_eq!(
            p.check(facts(Some(now + 31 * DAY_MS), &some), now)
                .unwrap_err()
                .source,
            "expires_at"
        );
        assert_eq!(
            p.check(facts(Some(now + 30 * DAY_MS), &none), now)
                .unwrap_err()
                .source,
            "allowed_networks"
        );
        assert!(p.check(facts(Some(now + 30 * DAY_MS), &some), now).is_ok());
        assert_eq!(p.breaches(facts(None, &none), now).len(), 2);
        assert!(KeyPolicy::default().check(facts(None, &none), now).is_ok());
        // A lifetime alone requires an expiry too.
        let lifetime_only = KeyPolicy {
            max_lifetime_days: Some(30),
            ..KeyPolicy::default()
        };
        assert_eq!(
            lifetime_only
                .check(facts(None, &none), now)
                .unwrap_err()
                .source,
            "expires_at"
        );
    }

    #[test]
    fn lifetimes_are_bounded() {
        assert_eq!(KeyPolicy::check_lifetime(30, "d"), Ok(30));
        for bad in [0, -1, 3651, i64::MAX] {
            assert!(KeyPolicy::check_lifetime(bad, "d").is_err());
        }
    }
}
