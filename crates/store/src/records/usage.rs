//! Usage: calls counted per key and span, the batches the usage recorder
//! writes, and keys idle long enough to be told about.

use keygate_core::{ClientId, OrgId};

use super::KeyKind;

/// Token checks counted for one key over some span: allowed, and refused by
/// reason. The reasons are the columns of `usage_minutes` and `usage_days`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageCounts {
    pub allowed: u64,
    /// The token's scope does not allow the request.
    pub scope: u64,
    /// The key's rate limit was reached.
    pub rate_limit: u64,
    /// The token or its key has expired.
    pub expired: u64,
    /// The key was deleted or regenerated since the token was issued.
    pub revoked: u64,
    /// The request came from outside the key's allowed networks.
    pub network: u64,
}

impl UsageCounts {
    pub fn add(&mut self, o: &UsageCounts) {
        self.allowed += o.allowed;
        self.scope += o.scope;
        self.rate_limit += o.rate_limit;
        self.expired += o.expired;
        self.revoked += o.revoked;
        self.network += o.network;
    }

    pub fn refused(&self) -> u64 {
        self.scope + self.rate_limit + self.expired + self.revoked + self.network
    }

    pub fn is_zero(&self) -> bool {
        self.allowed == 0 && self.refused() == 0
    }
}

/// One key's counts in one minute, as an instance's recorder flushes them;
/// they are added to what the database holds (several instances add up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    pub client_id: ClientId,
    pub org_id: OrgId,
    /// Unix ms of the minute's start.
    pub minute_start: i64,
    pub counts: UsageCounts,
}

/// When and from where a key was last used (a login or a token check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUsed {
    pub client_id: ClientId,
    pub org_id: OrgId,
    pub at: i64,
    pub ip: String,
}

/// What one flush of the usage recorder writes, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageBatch {
    pub counts: Vec<UsageDelta>,
    pub last_used: Vec<LastUsed>,
}

impl UsageBatch {
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.last_used.is_empty()
    }
}

/// Which table a usage read comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageTable {
    /// Per minute, kept 30 days.
    Minutes,
    /// Per UTC day, kept 13 months.
    Days,
}

/// Usage of an organization (or one of its keys) in `[from, to)` (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageQuery {
    pub org_id: OrgId,
    pub client_id: Option<ClientId>,
    pub table: UsageTable,
    pub from: i64,
    pub to: i64,
}

/// A key that has not been used since `idle_since` (its last use, or its
/// creation when never used) and was not yet told about for that stretch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusedKey {
    pub client_id: ClientId,
    pub org_id: OrgId,
    pub kind: KeyKind,
    pub name: String,
    pub owner_id: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl UnusedKey {
    pub fn idle_since(&self) -> i64 {
        self.last_used_at.unwrap_or(self.created_at)
    }
}
