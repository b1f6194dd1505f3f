//! The bodies of `/operator/v1/plans`.

use keygate_core::time::format_rfc3339;
use keygate_store::PlanRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaBody {
    /// `day` or `month` (UTC calendar periods).
    pub period: String,
    /// Allowed token checks per period over all of an organization's keys.
    pub requests: i64,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRateLimit {
    pub requests: i64,
    pub per_seconds: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanPut {
    pub name: String,
    /// At most one per period.
    #[serde(default)]
    pub quotas: Vec<QuotaBody>,
    /// The rate limit of the organization's keys that set none.
    #[serde(default)]
    pub rate_limit: Option<PlanRateLimit>,
}

#[derive(Serialize, ToSchema)]
pub struct PlanView {
    pub plan_id: String,
    pub name: String,
    pub quotas: Vec<QuotaBody>,
    pub rate_limit: Option<PlanRateLimit>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&PlanRecord> for PlanView {
    fn from(p: &PlanRecord) -> PlanView {
        PlanView {
            plan_id: p.plan.plan_id.clone(),
            name: p.plan.name.clone(),
            quotas: p
                .plan
                .quotas
                .iter()
                .map(|q| QuotaBody {
                    period: q.period.as_str().to_owned(),
                    requests: i64::from(q.requests),
                })
                .collect(),
            rate_limit: p.plan.rate_limit.map(|l| PlanRateLimit {
                requests: i64::from(l.requests),
                per_seconds: i64::from(l.per_seconds),
            }),
            created_at: format_rfc3339(p.created_at),
            updated_at: format_rfc3339(p.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PlanList {
    pub plans: Vec<PlanView>,
}
