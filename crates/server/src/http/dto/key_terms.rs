//! The terms of a scoped key that came with plans and machine access, as
//! JSON: its credits and its federation rules (RFC 8693 token exchange).
//! Re-exported by `keys`, whose requests and views carry them.

use keygate_core::federation::FederationRule;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A key's credits: each allowed token check (gateway and forward-auth)
/// uses one; at 0, 429 `credits_exhausted` until the refill, if any.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreditsDto {
    /// What is left, 0 to 10⁹.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub remaining: i64,
    /// At the start of every UTC day or month `remaining` becomes `amount`;
    /// absent or null: never refilled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<RefillDto>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefillDto {
    /// 1 to 10⁹.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub amount: i64,
    /// `day` or `month` (UTC).
    pub period: String,
}

impl CreditsDto {
    pub fn new(c: &keygate_core::credits::Credits, remaining: i64) -> CreditsDto {
        CreditsDto {
            remaining,
            refill: c.refill.map(|r| RefillDto {
                amount: r.amount,
                period: r.period.as_str().to_owned(),
            }),
        }
    }
}

/// A federation rule (RFC 8693 token exchange): tokens of `issuer` (its
/// `iss`, an https URL), for `audience` (one of its `aud`), whose `sub` is
/// `subject`, or starts with it when `subject` ends in `*`.
#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct FederationRuleDto {
    #[schema(example = "https://token.actions.githubusercontent.com")]
    pub issuer: String,
    #[schema(example = "https://keygate.example.com")]
    pub audience: String,
    #[schema(example = "repo:acme/app:ref:refs/heads/*")]
    pub subject: String,
}

impl From<FederationRule> for FederationRuleDto {
    fn from(r: FederationRule) -> FederationRuleDto {
        FederationRuleDto {
            issuer: r.issuer,
            audience: r.audience,
            subject: r.subject,
        }
    }
}

impl From<FederationRuleDto> for FederationRule {
    fn from(r: FederationRuleDto) -> FederationRule {
        FederationRule {
            issuer: r.issuer,
            audience: r.audience,
            subject: r.subject,
        }
    }
}

/// Rules as sent, for the service to check.
pub fn federation_in(rules: Option<Vec<FederationRuleDto>>) -> Option<Vec<FederationRule>> {
    rules.map(|r| r.into_iter().map(FederationRule::from).collect())
}
