//! The usage recorder: one per process, on the hot path. Every login and token
//! check tells it which key was used (and from where), and every token check
//! at the gateway or forward-auth whether it was allowed or refused and why.
//! It only counts in memory, in shards each behind its own lock (a hash lookup
//! and a few additions per request); `upkeep` takes what was counted every
//! `--usage-flush-interval` (and at shutdown) and writes it to the store in
//! one transaction. Counts from several instances add up in the database.
//!
//! Other parts of the server call [`Usage::refused`] with the [`Reason`] they
//! refused a token for: `service::tokens::check` counts scope, expiry (token,
//! key, or an ended grace period) and revocation; the rate-limit refusal is
//! counted in `gateway::check::refused_for_rate_limit` (with
//! [`Usage::refused_key`]); a network allowlist would use `Reason::Network`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;

use keygate_core::token::Claims;
use keygate_core::{ClientId, OrgId};
use keygate_store::{LastUsed, UsageBatch, UsageCounts, UsageDelta};

use crate::state::cache::{FastHasher, shard_index};
use crate::state::clock::now_ms;

const MINUTE_MS: i64 = 60_000;
const SHARDS: usize = 16;

/// Why a token check was refused, as the usage API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The token's scope does not cover the request (403).
    Scope,
    /// The key's rate limit was reached (429).
    RateLimit,
    /// The token, or the key it was issued for, has expired, or the token's
    /// previous secret's grace period ended (401).
    Expired,
    /// The key was deleted, or the token's secret regenerated away (401).
    Revoked,
    /// The request came from outside the key's allowed networks (403).
    Network,
}

impl Reason {
    pub const ALL: [Reason; 5] = [
        Reason::Scope,
        Reason::RateLimit,
        Reason::Expired,
        Reason::Revoked,
        Reason::Network,
    ];

    /// The name in the usage API's `refused` object.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Scope => "scope",
            Reason::RateLimit => "rate_limit",
            Reason::Expired => "expired",
            Reason::Revoked => "revoked",
            Reason::Network => "network",
        }
    }

    pub fn count(self, c: &UsageCounts) -> u64 {
        match self {
            Reason::Scope => c.scope,
            Reason::RateLimit => c.rate_limit,
            Reason::Expired => c.expired,
            Reason::Revoked => c.revoked,
            Reason::Network => c.network,
        }
    }

    fn slot(self, c: &mut UsageCounts) -> &mut u64 {
        match self {
            Reason::Scope => &mut c.scope,
            Reason::RateLimit => &mut c.rate_limit,
            Reason::Expired => &mut c.expired,
            Reason::Revoked => &mut c.revoked,
            Reason::Network => &mut c.network,
        }
    }
}

/// What one key did since the last flush.
struct Entry {
    org_id: OrgId,
    /// Per minute start; rarely more than two minutes between flushes.
    minutes: Vec<(i64, UsageCounts)>,
    /// When, and from which address (`None`: no socket, written as ""); the
    /// address is turned into text only when flushed, not per request.
    last_used: Option<(i64, Option<IpAddr>)>,
}

impl Entry {
    fn last_use(&mut self, now: i64, ip: Option<IpAddr>) {
        self.last_used = Some((now, ip));
    }

    fn minute(&mut self, start: i64) -> &mut UsageCounts {
        let i = match self.minutes.iter().position(|(m, _)| *m == start) {
            Some(i) => i,
            None => {
                self.minutes.push((start, UsageCounts::default()));
                self.minutes.len() - 1
            }
        };
        &mut self.minutes[i].1
    }
}

type Shard = HashMap<String, Entry, BuildHasherDefault<FastHasher>>;

/// Counts since the last flush. Keys are only ever client ids of keys that
/// logged in or of tokens whose signature was verified, never caller-chosen.
pub struct Usage {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for Usage {
    fn default() -> Self {
        Usage {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl Usage {
    fn with(&self, client_id: &str, org_id: &OrgId, f: impl FnOnce(&mut Entry)) {
        let mut h = FastHasher::default();
        client_id.hash(&mut h);
        let i = shard_index(h.finish(), SHARDS);
        let mut shard = self.shards[i].lock().unwrap_or_else(|p| p.into_inner());
        match shard.get_mut(client_id) {
            Some(e) => f(e),
            None => {
                let mut e = Entry {
                    org_id: org_id.clone(),
                    minutes: Vec::new(),
                    last_used: None,
                };
                f(&mut e);
                shard.insert(client_id.to_owned(), e);
            }
        }
    }

    /// A login or a token check with this key, from `ip` (last used).
    pub fn used(&self, client_id: &ClientId, org_id: &OrgId, ip: Option<IpAddr>) {
        let now = now_ms();
        self.with(client_id.as_str(), org_id, |e| e.last_use(now, ip));
    }

    /// A token check at the gateway or forward-auth that let the request pass
    /// from `ip`: the key's last use and the allowed call, in one update.
    pub fn allowed(&self, claims: &Claims, ip: Option<IpAddr>) {
        let now = now_ms();
        let minute = now.div_euclid(MINUTE_MS) * MINUTE_MS;
        self.with(claims.sub.as_str(), &claims.org_id, |e| {
            e.last_use(now, ip);
            e.minute(minute).allowed += 1;
        });
    }

    /// A token check at the gateway or forward-auth refused for `reason`.
    pub fn refused(&self, claims: &Claims, reason: Reason) {
        self.refused_key(&claims.sub, &claims.org_id, reason);
    }

    /// As [`Usage::refused`], for a caller that has the key's ids but no claims.
    pub fn refused_key(&self, client_id: &ClientId, org_id: &OrgId, reason: Reason) {
        let minute = now_ms().div_euclid(MINUTE_MS) * MINUTE_MS;
        self.with(client_id.as_str(), org_id, |e| {
            *reason.slot(e.minute(minute)) += 1
        });
    }

    /// Everything counted so far, leaving the recorder empty.
    pub fn take(&self) -> UsageBatch {
        let mut batch = UsageBatch::default();
        for shard in self.shards.iter() {
            let taken = std::mem::take(&mut *shard.lock().unwrap_or_else(|p| p.into_inner()));
            for (client_id, e) in taken {
                let Ok(client_id) = client_id.parse::<ClientId>() else {
                    continue;
                };
                if let Some((at, ip)) = e.last_used {
                    batch.last_used.push(LastUsed {
                        client_id: client_id.clone(),
                        org_id: e.org_id.clone(),
                        at,
                        ip: ip.map(|ip| ip.to_string()).unwrap_or_default(),
                    });
                }
                for (minute_start, counts) in e.minutes {
                    batch.counts.push(UsageDelta {
                        client_id: client_id.clone(),
                        org_id: e.org_id.clone(),
                        minute_start,
                        counts,
                    });
                }
            }
        }
        batch
    }

    /// Puts back a batch that could not be written, for the next flush.
    pub fn restore(&self, batch: UsageBatch) {
        for d in batch.counts {
            self.with(d.client_id.as_str(), &d.org_id, |e| {
                e.minute(d.minute_start).add(&d.counts)
            });
        }
        for u in batch.last_used {
            self.with(u.client_id.as_str(), &u.org_id, |e| match &e.last_used {
                Some((at, _)) if *at >= u.at => {}
                _ => e.last_used = Some((u.at, u.ip.parse().ok())),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(c: &ClientId, o: &OrgId) -> Claims {
        Claims {
            iss: keygate_core::token::ISSUER.into(),
            sub: c.clone(),
            org_id: o.clone(),
            account_id: None,
            r#gen: 1,
            scope: String::new(),
            iat: 0,
            exp: 0,
            jti: String::new(),
            narrowed: false,
            cnf: None,
        }
    }

    #[test]
    fn counts_per_key_and_reason_and_empties_on_take() {
        let u = Usage::default();
        let (a, b, o) = (
            ClientId::generate(),
            ClientId::generate(),
            OrgId::generate(),
        );
        for _ in 0..3 {
            u.allowed(&claims(&a, &o), "198.51.100.1".parse().ok());
        }
        u.refused(&claims(&a, &o), Reason::Scope);
        u.refused_key(&b, &o, Reason::RateLimit);
        u.used(&a, &o, "203.0.113.9".parse().ok());
        let batch = u.take();
        let total = |c: &ClientId| {
            let mut t = UsageCounts::default();
            for d in batch.counts.iter().filter(|d| &d.client_id == c) {
                t.add(&d.counts);
            }
            t
        };
        assert_eq!(total(&a).allowed, 3);
        assert_eq!(total(&a).scope, 1);
        assert_eq!(total(&b).rate_limit, 1);
        assert_eq!(batch.last_used.len(), 1);
        assert_eq!(batch.last_used[0].ip, "203.0.113.9");
        assert!(u.take().is_empty());
        u.restore(batch);
        u.used(&b, &o, None);
        let batch = u.take();
        assert_eq!(
            batch.counts.iter().map(|d| d.counts.allowed).sum::<u64>(),
            3
        );
        let ip_of = |c: &ClientId| {
            batch
                .last_used
                .iter()
                .find(|l| &l.client_id == c)
                .map(|l| l.ip.clone())
        };
        assert_eq!(ip_of(&a).as_deref(), Some("203.0.113.9"), "restored");
        assert_eq!(ip_of(&b).as_deref(), Some(""), "no socket");
    }
}
