//! `GET /dev/v1/orgs/{org_id}/usage`.

use keygate_core::time::format_rfc3339;
use keygate_store::UsageCounts;
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::usage::Bucket;

/// Token checks at the gateway and forward-auth, in buckets.
#[derive(Serialize, ToSchema)]
pub struct UsageView {
    /// Every bucket of the span in order, empty ones with zeros.
    pub buckets: Vec<UsageBucketView>,
}

#[derive(Serialize, ToSchema)]
pub struct UsageBucketView {
    /// The bucket's start, RFC 3339 UTC (minute, hour or UTC day).
    pub start: String,
    /// Token checks that let the request pass.
    pub allowed: u64,
    pub refused: RefusedView,
}

/// Refused token checks by reason.
#[derive(Serialize, ToSchema)]
pub struct RefusedView {
    /// The token's scope does not allow the request (403).
    pub scope: u64,
    /// The key's rate limit was reached (429).
    pub rate_limit: u64,
    /// The token or its key has expired (401).
    pub expired: u64,
    /// The key was deleted or regenerated after the token was issued (401).
    pub revoked: u64,
    /// The request came from outside the key's allowed networks (403).
    pub network: u64,
}

impl From<&UsageCounts> for RefusedView {
    fn from(c: &UsageCounts) -> RefusedView {
        RefusedView {
            scope: c.scope,
            rate_limit: c.rate_limit,
            expired: c.expired,
            revoked: c.revoked,
            network: c.network,
        }
    }
}

impl From<&Bucket> for UsageBucketView {
    fn from(b: &Bucket) -> UsageBucketView {
        UsageBucketView {
            start: format_rfc3339(b.start),
            allowed: b.counts.allowed,
            refused: (&b.counts).into(),
        }
    }
}
