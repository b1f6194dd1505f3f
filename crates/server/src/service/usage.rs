//! Reading usage: calls per key and per minute, hour or day (allowed, refused
//! by reason), the top keys of an organization, and each key's last use. The
//! counts are what the instances' usage recorders flushed (every
//! `--usage-flush-interval`), so the latest seconds may not be in yet.

use std::collections::HashMap;

use keygate_core::{ClientId, OrgId};
use keygate_store::{LastUsed, UsageCounts, UsageQuery, UsageTable};

use crate::service::Error;
use crate::state::app::App;
use crate::state::clock::now_ms;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Minute,
    Hour,
    Day,
}

impl Granularity {
    pub fn parse(s: &str) -> Option<Granularity> {
        match s {
            "minute" => Some(Granularity::Minute),
            "hour" => Some(Granularity::Hour),
            "day" => Some(Granularity::Day),
            _ => None,
        }
    }

    pub fn ms(self) -> i64 {
        match self {
            Granularity::Minute => MINUTE_MS,
            Granularity::Hour => HOUR_MS,
            Granularity::Day => DAY_MS,
        }
    }

    /// The longest span one request may cover at this granularity.
    pub fn max_span_ms(self) -> i64 {
        match self {
            Granularity::Minute => 7 * DAY_MS,
            Granularity::Hour => 31 * DAY_MS,
            Granularity::Day => 400 * DAY_MS,
        }
    }

    fn table(self) -> UsageTable {
        match self {
            Granularity::Minute | Granularity::Hour => UsageTable::Minutes,
            Granularity::Day => UsageTable::Days,
        }
    }
}

/// One bucket of the answer: its start (Unix ms, UTC) and its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub start: i64,
    pub counts: UsageCounts,
}

/// What to read: `from`/`to` default to the 24 hours before now.
#[derive(Debug, Clone)]
pub struct Span {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub granularity: Granularity,
}

/// Every bucket from `from` (rounded down to the granularity) to `to`
/// (rounded up), empty ones with zeros, for the organization or one of its
/// keys (another organization's key: not found).
pub async fn usage(
    app: &App,
    org_id: &OrgId,
    client_id: Option<&ClientId>,
    span: &Span,
) -> Result<Vec<Bucket>, Error> {
    let now = now_ms();
    let to = span.to.unwrap_or(now);
    let from = span.from.unwrap_or(to - DAY_MS);
    if from >= to {
        return Err(Error::invalid("from", "must be before `to`"));
    }
    let g = span.granularity;
    if to - from > g.max_span_ms() {
        return Err(Error::invalid(
            "from",
            format!(
                "the span from `from` to `to` may be at most {} days at this granularity",
                g.max_span_ms() / DAY_MS
            ),
        ));
    }
    if let Some(c) = client_id {
        crate::service::keys::find(app, org_id, c).await?;
    }
    let step = g.ms();
    let first = from.div_euclid(step) * step;
    let end = (to + step - 1).div_euclid(step) * step;
    let rows = app
        .store
        .usage(&UsageQuery {
            org_id: org_id.clone(),
            client_id: client_id.cloned(),
            table: g.table(),
            from: first,
            to: end,
        })
        .await?;
    let mut buckets: Vec<Bucket> = (0..(end - first) / step)
        .map(|i| Bucket {
            start: first + i * step,
            counts: UsageCounts::default(),
        })
        .collect();
    for (start, counts) in rows {
        let i = ((start - first) / step) as usize;
        if let Some(b) = buckets.get_mut(i) {
            b.counts.add(&counts);
        }
    }
    Ok(buckets)
}

/// Each key's counts in the last `days` UTC days (today included), busiest
/// first.
pub async fn top_keys(
    app: &App,
    org_id: &OrgId,
    days: i64,
) -> Result<Vec<(ClientId, UsageCounts)>, Error> {
    let today = now_ms().div_euclid(DAY_MS) * DAY_MS;
    let mut keys = app
        .store
        .usage_by_key(
            org_id,
            UsageTable::Days,
            today - (days - 1) * DAY_MS,
            today + DAY_MS,
        )
        .await?;
    keys.sort_by(|a, b| {
        (b.1.allowed + b.1.refused())
            .cmp(&(a.1.allowed + a.1.refused()))
            .then(a.0.as_str().cmp(b.0.as_str()))
    });
    Ok(keys)
}

/// The last use of each key of the organization that was used, as of the
/// last flush.
pub async fn last_used(app: &App, org_id: &OrgId) -> Result<HashMap<ClientId, LastUsed>, Error> {
    Ok(app
        .store
        .last_used(org_id)
        .await?
        .into_iter()
        .map(|u| (u.client_id.clone(), u))
        .collect())
}
