//! Usage in the Developer app: one key's page (details, last use, calls in the
//! last 24 hours) and the organization's overview (calls per day, top keys,
//! refusals by reason). Both read the same service as `GET /dev/v1/…/usage`.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use keygate_store::KeyKind;

use crate::service::usage::{self, Granularity, Span};
use crate::service::{keys as key_service, orgs};
use crate::state::usage::Reason;
use crate::ui::Pages;
use crate::ui::chart;
use crate::ui::extract::PageError;
use crate::ui::layout::{Shell, render, when};
use crate::ui::rate_limit::words;
use crate::ui::routes::keys::common::{KeyManagerMember, Lifecycle, key_of};
use crate::ui::routes::keys::form::scope_lines;

/// One key's page: what it is, its last use, its calls.
#[derive(Template)]
#[template(path = "key.html")]
pub struct KeyPage {
    pub shell: Shell,
    pub name: String,
    pub client_id: String,
    pub kind: &'static str,
    pub created: String,
    pub updated: String,
    pub last_used: Option<(String, String)>,
    /// When the key stops working (`None`: never), whether that has passed,
    /// and the grace of a replaced secret.
    pub expires: Option<String>,
    pub expired: bool,
    pub grace: Option<String>,
    /// Its own limit in words, else the organization default's, else "None".
    pub rate_limit: String,
    /// Empty: any network.
    pub networks: Vec<String>,
    /// What it may reach: (level, resources and access).
    pub permissions: Vec<(&'static str, String)>,
    /// Only DPoP-bound tokens are issued.
    pub require_dpop: bool,
    /// Its credits in words ("None" without).
    pub credits: String,
    /// Federation rules: (issuer, audience, subject).
    pub federation: Vec<(String, String, String)>,
    /// When its secret was reported leaked (it still works).
    pub exposed: Option<String>,
    pub flush_secs: u64,
    /// Scoped keys: Edit; admin keys: Edit rate limit.
    pub edit: (String, &'static str),
    pub notice: Option<&'static str>,
    pub chart: crate::ui::chart::Chart,
}

pub struct TopKeyRow {
    pub name: String,
    pub client_id: String,
    pub url: String,
    pub allowed: u64,
    pub refused: u64,
    pub last_used: String,
}

pub struct ReasonRow {
    pub reason: &'static str,
    pub meaning: &'static str,
    pub count: u64,
    pub share: String,
}

/// One quota of the organization's plan: a bar of this period's use.
pub struct QuotaRow {
    /// "Per UTC day" or "Per UTC month".
    pub period: &'static str,
    pub used: u32,
    pub requests: u32,
    pub percent: u32,
    /// 80 % and 90 % of the quota: the bar turns at the thresholds.
    pub low: u32,
    pub high: u32,
    pub resets: String,
}

/// The organization's usage: its plan's quotas, calls per day, top keys,
/// refusals by reason.
#[derive(Template)]
#[template(path = "usage.html")]
pub struct UsagePage {
    pub shell: Shell,
    /// The plan's name and id, when the organization is on one.
    pub plan: Option<(String, String)>,
    pub quotas: Vec<QuotaRow>,
    pub chart: crate::ui::chart::Chart,
    pub top: Vec<TopKeyRow>,
    pub reasons: Vec<ReasonRow>,
    pub flush_secs: u64,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn flush_secs(app: &Pages) -> u64 {
    app.settings.usage_flush_interval.as_secs()
}

pub async fn key_page(
    State(app): State<Pages>,
    m: KeyManagerMember,
    Path((_, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let notice = (q.as_deref() == Some("done=rate-limit"))
        .then_some("Rate limit saved. It holds from the next token check.");
    let key = key_of(&app, &m, &id, None).await?;
    let shell = Shell::load(&app, &m.current, &m.org_id, m.role, "keys").await?;
    let used = usage::last_used(&app, &m.org_id).await?;
    let span = Span {
        from: None,
        to: None,
        granularity: Granularity::Hour,
    };
    let buckets = usage::usage(&app, &m.org_id, Some(&key.client_id), &span).await?;
    // A key without a limit of its own is held to the organization's default.
    let rate_limit = match key.rate_limit {
        Some(l) => words(l),
        None => match orgs::rate_limit(&app, &m.org_id).await? {
            Some(l) => format!("Organization default: {}", words(l)),
            None => "None".to_owned(),
        },
    };
    let life = Lifecycle::of(&key, crate::state::clock::now_ms());
    // An admin key's only edit is its rate limit (expiry and allowlist
    // change with Regenerate, as in the JSON API).
    let at = format!("{}/{}", shell.keys_url(), key.client_id);
    let edit = match key.kind {
        KeyKind::Scoped => (format!("{at}/edit"), "Edit"),
        KeyKind::Admin => (format!("{at}/rate-limit"), "Edit rate limit"),
    };
    Ok(render(&KeyPage {
        name: key.name.clone(),
        client_id: key.client_id.to_string(),
        kind: match key.kind {
            KeyKind::Admin => "Admin key",
            KeyKind::Scoped => "Scoped key",
        },
        created: when(key.created_at),
        updated: when(key.updated_at),
        last_used: used.get(&key.client_id).map(|u| (when(u.at), u.ip.clone())),
        expires: key.expires_at.map(when),
        expired: life.expired,
        grace: life.grace,
        rate_limit,
        networks: key.allowed_networks.to_strings(),
        permissions: scope_lines(&key.scope, &orgs::accounts(&app, &m.org_id).await?),
        require_dpop: key.require_dpop,
        credits: credit_words(&app, &key),
        federation: key
            .federation
            .as_slice()
            .iter()
            .map(|r| (r.issuer.clone(), r.audience.clone(), r.subject.clone()))
            .collect(),
        exposed: key.exposed_at.map(when),
        flush_secs: flush_secs(&app),
        edit,
        notice,
        chart: chart::build(
            "key-calls-chart",
            "Calls per hour, last 24 hours",
            &buckets,
            Granularity::Hour,
        ),
        shell,
    }))
}

fn meaning(r: Reason) -> &'static str {
    match r {
        Reason::Scope => "The token's scope does not allow the request (403).",
        Reason::RateLimit => {
            "The key's rate limit, or a quota of the organization's plan, was reached (429)."
        }
        Reason::Expired => "The token or its key had expired (401).",
        Reason::Revoked => "The key was deleted or regenerated after the token was issued (401).",
        Reason::Network => "The call came from outside the key's allowed networks (403).",
    }
}

fn reason_title(r: Reason) -> &'static str {
    match r {
        Reason::Scope => "Scope",
        Reason::RateLimit => "Rate limit",
        Reason::Expired => "Expired",
        Reason::Revoked => "Revoked",
        Reason::Network => "Network",
    }
}

pub async fn overview(
    State(app): State<Pages>,
    m: KeyManagerMember,
) -> Result<Response, PageError> {
    let shell = Shell::load(&app, &m.current, &m.org_id, m.role, "usage").await?;
    let now = crate::state::clock::now_ms();
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let span = Span {
        from: Some(today - 29 * DAY_MS),
        to: Some(today + DAY_MS),
        granularity: Granularity::Day,
    };
    let buckets = usage::usage(&app, &m.org_id, None, &span).await?;
    let chart = chart::build(
        "org-calls-chart",
        "Calls per day, last 30 days",
        &buckets,
        Granularity::Day,
    );
    let keys = key_service::list(&app, &m.org_id).await?;
    let used = usage::last_used(&app, &m.org_id).await?;
    let top = usage::top_keys(&app, &m.org_id, 30)
        .await?
        .into_iter()
        .take(10)
        .map(|(client_id, c)| {
            let key = keys.iter().find(|k| k.client_id == client_id);
            TopKeyRow {
                name: key.map_or_else(|| "(deleted key)".to_owned(), |k| k.name.clone()),
                url: key.map_or_else(String::new, |k| {
                    format!("{}/{}", shell.keys_url(), k.client_id)
                }),
                client_id: client_id.to_string(),
                allowed: c.allowed,
                refused: c.refused(),
                last_used: used
                    .get(&client_id)
                    .map_or_else(|| "—".to_owned(), |u| when(u.at)),
            }
        })
        .collect();
    let refused = chart.total.refused();
    let reasons = Reason::ALL
        .iter()
        .map(|r| {
            let count = r.count(&chart.total);
            ReasonRow {
                reason: reason_title(*r),
                meaning: meaning(*r),
                count,
                share: if refused == 0 {
                    "—".to_owned()
                } else {
                    format!("{:.0} %", count as f64 * 100.0 / refused as f64)
                },
            }
        })
        .collect();
    let (plan, quotas) = match crate::service::plans::org_quotas(&app, &m.org_id) {
        Some((plan, uses)) => (
            Some((plan.name, plan.plan_id)),
            uses.iter()
                .map(|u| QuotaRow {
                    period: match u.quota.period {
                        keygate_core::quota::Period::Day => "Per UTC day",
                        keygate_core::quota::Period::Month => "Per UTC month",
                    },
                    used: u.used,
                    requests: u.quota.requests,
                    percent: (u64::from(u.used.min(u.quota.requests)) * 100
                        / u64::from(u.quota.requests.max(1))) as u32,
                    low: keygate_core::quota::threshold_count(u.quota.requests, 80),
                    high: keygate_core::quota::threshold_count(u.quota.requests, 90),
                    resets: when(u.ends_at),
                })
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    Ok(render(&UsagePage {
        shell,
        plan,
        quotas,
        chart,
        top,
        reasons,
        flush_secs: flush_secs(&app),
    }))
}

/// "12 left, refilled to 100 every UTC day", or "None".
fn credit_words(app: &Pages, key: &keygate_store::KeyRecord) -> String {
    let Some(c) = &key.credits else {
        return "None".to_owned();
    };
    let left = app
        .credits
        .remaining(&key.client_id, c, crate::state::clock::now_ms());
    match c.refill {
        Some(r) => format!(
            "{left} left, refilled to {} every UTC {}",
            r.amount,
            r.period.as_str()
        ),
        None => format!("{left} left, no refill"),
    }
}
