//! Plans' quotas beside the hot path: the counters start from the usage
//! table, and the `quota.threshold` events go out once.
//!
//! The counts themselves are `state::rate_limits` counters, one per
//! organization and UTC day or month, taken on every allowed token check
//! (and settled with Redis like key limits). [`seed`] starts each from what
//! the usage table counted earlier in its period, at start and when an
//! organization first appears on a plan with quotas, so a restart does not
//! reset a period (calls not yet flushed by `--usage-flush-interval` when a
//! process dies are not in the table and are lost to the quota).
//!
//! Every [`EVERY`] this task compares each organization's counts with its
//! quotas; each of 80, 90 and 100 % reached is claimed in the store with a
//! conditional insert in the transaction that writes its audit event and
//! outbox rows (mail to owners and admins, the org's webhooks), so several
//! instances and restarts send it once. A threshold is sent at most
//! [`EVERY`] after it is reached.

use std::collections::HashSet;
use std::time::Duration;

use keygate_core::OrgId;
use keygate_core::quota::{Period, THRESHOLDS, threshold_count};
use keygate_core::time::format_rfc3339;
use keygate_store::{QuotaThreshold, StoreError};
use serde_json::json;

use crate::state::app::{App, AppState};
use crate::state::audit::Actor;
use crate::state::clock::now_ms;
use crate::tasks::handle::{TaskName, Tasks};

/// How often counts are compared with the thresholds.
pub const EVERY: Duration = Duration::from_secs(1);

/// Starts the counters of `orgs` (all on a plan with quotas, none counted by
/// this process yet) from the usage table.
pub async fn seed(app: &App, orgs: &HashSet<OrgId>) -> Result<(), StoreError> {
    if orgs.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    for period in [Period::Day, Period::Month] {
        let (start, _) = period.bounds(now);
        for (org_id, allowed) in app.store.allowed_since(start).await? {
            if orgs.contains(&org_id) {
                let allowed = u32::try_from(allowed.max(0)).unwrap_or(u32::MAX);
                app.rate_limits.seed_quota(&org_id, period, allowed, now);
            }
        }
    }
    Ok(())
}

/// Seeds every organization on a plan with quotas; for `serve`, before it
/// takes requests.
pub async fn seed_all(app: &App) -> Result<HashSet<OrgId>, StoreError> {
    let orgs: HashSet<OrgId> = app
        .cache
        .orgs_with_quotas()
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    seed(app, &orgs).await?;
    Ok(orgs)
}

pub fn start(app: &AppState, tasks: &mut Tasks, seeded: HashSet<OrgId>) {
    let app = app.clone();
    tasks.spawn(TaskName::Quotas, |stop| async move {
        let mut seeded = seeded;
        let mut claimed: HashSet<QuotaThreshold> = HashSet::new();
        loop {
            if let Err(e) = round(&app, &mut seeded, &mut claimed).await {
                tracing::warn!(error = %e, "quota thresholds round failed; retrying later");
            }
            if stop.sleep(EVERY).await {
                return;
            }
        }
    });
}

/// One comparison of every organization's counts with its quotas.
async fn round(
    app: &App,
    seeded: &mut HashSet<OrgId>,
    claimed: &mut HashSet<QuotaThreshold>,
) -> Result<(), StoreError> {
    let orgs = app.cache.orgs_with_quotas();
    let new: HashSet<OrgId> = orgs
        .iter()
        .filter(|(o, _)| !seeded.contains(o))
        .map(|(o, _)| o.clone())
        .collect();
    seed(app, &new).await?;
    seeded.extend(new);
    let now = now_ms();
    // Claims of periods that are over are never asked again.
    claimed.retain(|t| t.period_start == t.period.bounds(now).0);
    let mut sent = false;
    // The quotas of organizations on a plan, and those that reached a
    // threshold since the last round (their organization may have left its
    // plan meanwhile: the threshold was still reached).
    let mut quotas: Vec<(OrgId, keygate_core::quota::Quota)> = orgs
        .iter()
        .flat_map(|(o, p)| p.quotas.iter().map(move |q| (o.clone(), *q)))
        .collect();
    for c in app.rate_limits.take_crossed() {
        if !quotas.contains(&c) {
            quotas.push(c);
        }
    }
    for (org_id, q) in &quotas {
        {
            let used = app.rate_limits.quota_used(org_id, q.period, now);
            let (period_start, _) = q.period.bounds(now);
            for percent in THRESHOLDS {
                if used < threshold_count(q.requests, percent) {
                    break;
                }
                let t = QuotaThreshold {
                    org_id: org_id.clone(),
                    period: q.period,
                    period_start,
                    percent,
                };
                if claimed.contains(&t) {
                    continue;
                }
                let external_id = app
                    .store
                    .org_profile(org_id)
                    .await?
                    .and_then(|o| o.external_id);
                let event = Actor::default().event(
                    Some(org_id),
                    "quota.threshold",
                    None,
                    json!({
                        "external_id": external_id,
                        "period": q.period.as_str(),
                        "period_start": format_rfc3339(period_start),
                        "requests": q.requests,
                        "used": used,
                        "percent": percent,
                    }),
                );
                sent |= app.store.claim_quota_threshold(&t, &event).await?;
                claimed.insert(t);
            }
        }
    }
    if sent {
        app.dispatcher.wake();
    }
    Ok(())
}
