//! The operator's plans (`/operator/v1/plans`): quotas per UTC day and month
//! over all of an organization's keys, and the rate limit for keys that set
//! none. Plans belong to no organization, so their changes are in no
//! organization's audit log; the change feed carries them to every
//! instance's cache through the organizations on the plan.

use keygate_core::RateLimit;
use keygate_core::quota::Plan;
use keygate_core::text::DisplayName;
use keygate_store::PlanRecord;

use crate::service::Error;
use crate::service::operator::Operator;
use crate::state::app::App;
use crate::state::clock::now_ms;

/// A plan as `PUT /operator/v1/plans/{plan_id}` sends it.
pub struct PlanInput {
    pub name: String,
    /// `(period, requests)` as sent.
    pub quotas: Vec<(String, i64)>,
    /// `(requests, per_seconds)` as sent.
    pub rate_limit: Option<(i64, i64)>,
}

/// Creates or replaces a plan (true: created). Organizations on it get its
/// new quotas and limit at once (this instance now, the others through the
/// change feed); what their keys used this period still counts.
pub async fn put(
    app: &App,
    _op: &Operator,
    plan_id: &str,
    input: PlanInput,
) -> Result<(PlanRecord, bool), Error> {
    // The id names what is created: a bad one is bad input (400); reads and
    // deletes of such an id are 404, as no such plan can exist.
    Plan::check_id(plan_id)?;
    let plan = Plan {
        plan_id: plan_id.to_owned(),
        name: DisplayName::parse(&input.name, "name")?.into_string(),
        quotas: Plan::check_quotas(&input.quotas)?,
        rate_limit: input
            .rate_limit
            .map(|(r, s)| RateLimit::new(r, s, "rate_limit"))
            .transpose()?,
    };
    let now = now_ms();
    let created_at = app.store.plan(plan_id).await?.map_or(now, |p| p.created_at);
    let record = PlanRecord {
        plan,
        created_at,
        updated_at: now,
    };
    let created = app.store.put_plan(&record).await?;
    for (org_id, p) in app.store.org_plans().await? {
        if p.plan.plan_id == plan_id {
            app.cache.refresh_org(app.store.as_ref(), &org_id).await?;
        }
    }
    Ok((record, created))
}

pub async fn get(app: &App, plan_id: &str) -> Result<PlanRecord, Error> {
    app.store.plan(plan_id).await?.ok_or(Error::NotFound)
}

pub async fn list(app: &App) -> Result<Vec<PlanRecord>, Error> {
    Ok(app.store.plans().await?)
}

/// Deletes a plan; 409 while an organization is on it.
pub async fn delete(app: &App, _op: &Operator, plan_id: &str) -> Result<(), Error> {
    Ok(app.store.delete_plan(plan_id).await?)
}

/// One quota of an organization's plan and where it stands now.
pub struct QuotaUse {
    pub quota: keygate_core::quota::Quota,
    /// Allowed checks this period, as this instance counts them (with Redis,
    /// every instance's as of the last settle).
    pub used: u32,
    /// When the period ends (Unix ms).
    pub ends_at: i64,
}

/// The organization's plan (id and name) and its quotas' use this period,
/// for its members. Memory only.
pub fn org_quotas(app: &App, org_id: &keygate_core::OrgId) -> Option<(Plan, Vec<QuotaUse>)> {
    let plan = app.cache.plan_of(org_id)?;
    let now = now_ms();
    let uses = plan
        .quotas
        .iter()
        .map(|q| QuotaUse {
            quota: *q,
            used: app.rate_limits.quota_used(org_id, q.period, now),
            ends_at: q.period.bounds(now).1,
        })
        .collect();
    Some(((*plan).clone(), uses))
}
