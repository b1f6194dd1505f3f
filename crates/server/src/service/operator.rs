//! The operator's back office (`/operator/v1`, `keygate operator`): operator
//! tokens, and the organizations the operator provisions, changes, suspends
//! and resumes. Every change is audited in the organization's log with the
//! actor `operator:<token name>`.

use std::collections::BTreeMap;

use keygate_core::crypto::{Digest, Pepper, random_base62};
use keygate_core::text::{DisplayName, Email};
use keygate_core::{AccountId, OrgId, Role};
use keygate_store::{
    AccountRecord, AuditEvent, OperatorTokenRecord, OrgProfile, OrgQuery, Store, StoreError,
    Suspension,
};
use serde_json::json;

use crate::service::{Error, invitations};
use crate::state::app::App;
use crate::state::audit::Actor;
use crate::state::clock::now_ms;
use crate::state::links;

/// What every operator token starts with.
pub const TOKEN_PREFIX: &str = "kgop_";
/// At most this many organizations per page.
pub const MAX_PAGE: u32 = 200;

/// The operator behind a request: the token's name, as the audit log's actor.
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    pub actor: Actor,
}

fn token_digest(pepper: &Pepper, token: &str) -> Digest {
    pepper.digest(token.as_bytes())
}

fn token_name(name: &str) -> Result<String, Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(Error::invalid(
            "name",
            "1 to 64 letters, digits, '-', '_' or '.'",
        ))
    }
}

/// `keygate operator token create`: a new token, returned once; the store
/// keeps its HMAC with the pepper.
pub async fn create_token(store: &dyn Store, pepper: &Pepper, name: &str) -> Result<String, Error> {
    let name = token_name(name)?;
    let token = format!("{TOKEN_PREFIX}{}", random_base62(40));
    store
        .create_operator_token(&OperatorTokenRecord {
            name,
            token_hash: token_digest(pepper, &token),
            created_at: now_ms(),
        })
        .await?;
    Ok(token)
}

pub async fn tokens(store: &dyn Store) -> Result<Vec<OperatorTokenRecord>, Error> {
    Ok(store.operator_tokens().await?)
}

/// Revokes a token by name: its next request is refused (tokens are read
/// from the database on every request, never cached).
pub async fn revoke_token(store: &dyn Store, name: &str) -> Result<(), Error> {
    Ok(store.revoke_operator_token(name).await?)
}

/// The operator a bearer token names; `Unauthorized` for anything else
/// (session tokens, API keys, revoked tokens: one answer).
pub async fn authenticate(app: &App, token: &str, mut actor: Actor) -> Result<Operator, Error> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Err(Error::Unauthorized);
    }
    let digest = token_digest(&app.pepper, token);
    let found = app.store.operator_token_by_hash(&digest).await?;
    match found {
        Some(t) if t.token_hash.ct_eq(&digest) => {
            actor.email = Some(format!("operator:{}", t.name));
            actor.user_id = None;
            Ok(Operator {
                name: t.name,
                actor,
            })
        }
        _ => Err(Error::Unauthorized),
    }
}

/// What `POST /operator/v1/orgs` asks for.
pub struct NewOrg {
    pub name: String,
    pub owner_email: String,
    pub accounts: Vec<String>,
    pub external_id: Option<String>,
    pub plan_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// A provisioned organization: its accounts, and the owner's invitation with
/// the link that was also mailed.
pub struct CreatedOrg {
    pub org: OrgProfile,
    pub accounts: Vec<AccountRecord>,
    pub invitation_id: String,
    pub invitation_expires_at: i64,
    pub invitation_url: String,
}

fn external_id(v: &str) -> Result<String, Error> {
    if v.is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
        return Err(Error::invalid(
            "external_id",
            "1 to 128 characters, no control characters",
        ));
    }
    Ok(v.to_owned())
}

/// A `plan_id` of an organization: a plan that exists (else 400
/// `validation_error` on `plan_id`: it is a field of the body, not the
/// object the URL names).
async fn plan_id(app: &App, v: Option<&str>) -> Result<Option<String>, Error> {
    let Some(v) = v else { return Ok(None) };
    keygate_core::quota::Plan::check_id(v)?;
    if app.store.plan(v).await?.is_none() {
        return Err(Error::invalid(
            "plan_id",
            "no such plan; create it first with PUT /operator/v1/plans/{plan_id}",
        ));
    }
    Ok(Some(v.to_owned()))
}

fn metadata(m: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Error> {
    if m.len() > 50 {
        return Err(Error::invalid("metadata", "at most 50 entries"));
    }
    for (k, v) in &m {
        if k.is_empty() || k.len() > 64 || v.len() > 512 {
            return Err(Error::invalid(
                "metadata",
                "keys of 1 to 64 bytes, values of at most 512 bytes",
            ));
        }
    }
    Ok(m)
}

/// Creates an organization and invites its owner (the link is mailed and
/// returned; nobody is given a password).
pub async fn create_org(app: &App, op: &Operator, new: NewOrg) -> Result<CreatedOrg, Error> {
    let name = DisplayName::parse(&new.name, "name")?;
    let email = Email::parse(&new.owner_email, "owner_email")?;
    let accounts = new
        .accounts
        .iter()
        .map(|n| DisplayName::parse(n, "accounts"))
        .collect::<Result<Vec<_>, _>>()?;
    let now = now_ms();
    let org = OrgProfile {
        org_id: OrgId::generate(),
        name: name.into_string(),
        external_id: new.external_id.as_deref().map(external_id).transpose()?,
        plan_id: plan_id(app, new.plan_id.as_deref()).await?,
        metadata: metadata(new.metadata)?,
        suspended: None,
        created_at: now,
    };
    let accounts: Vec<AccountRecord> = accounts
        .into_iter()
        .map(|n| AccountRecord {
            account_id: AccountId::generate(),
            org_id: org.org_id.clone(),
            name: n.into_string(),
            created_at: now,
        })
        .collect();
    let (invitation, mail, link) = invitations::prepare(
        &app.pepper,
        &op.actor,
        &org.org_id,
        &org.name,
        None,
        email.as_str(),
        Role::Owner,
    );
    let created = op.actor.event(
        Some(&org.org_id),
        "org.created",
        None,
        json!({"name": org.name, "external_id": org.external_id, "plan_id": org.plan_id,
               "owner_email": email.as_str(),
               "accounts": accounts.iter().map(|a| a.account_id.as_str()).collect::<Vec<_>>()}),
    );
    let invited = op.actor.event(
        Some(&org.org_id),
        "invitation.created",
        None,
        json!({"invitation_id": invitation.invitation_id.as_str(), "email": email.as_str(),
               "role": Role::Owner}),
    );
    app.store
        .create_operator_org(&org, &accounts, &invitation, &[created, invited], &mail)
        .await?;
    if org.plan_id.is_some() {
        app.cache
            .refresh_org(app.store.as_ref(), &org.org_id)
            .await?;
    }
    app.dispatcher.wake();
    Ok(CreatedOrg {
        invitation_url: links::url(&app.settings.notify.public_url, &app.pepper, &link),
        invitation_id: invitation.invitation_id.to_string(),
        invitation_expires_at: invitation.expires_at,
        org,
        accounts,
    })
}

/// One organization as the operator sees it.
pub async fn org(app: &App, org_id: &str) -> Result<OrgProfile, Error> {
    let org_id = OrgId::parse(org_id).map_err(|_| Error::NotFound)?;
    app.store.org_profile(&org_id).await?.ok_or(Error::NotFound)
}

/// The filters and the page of `GET /operator/v1/orgs`.
pub struct OrgFilter {
    pub external_id: Option<String>,
    pub plan_id: Option<String>,
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A page of organizations by id, and the cursor of the next page.
pub async fn orgs(app: &App, f: OrgFilter) -> Result<(Vec<OrgProfile>, Option<String>), Error> {
    let suspended = match f.status.as_deref() {
        None => None,
        Some("active") => Some(false),
        Some("suspended") => Some(true),
        Some(_) => return Err(Error::invalid("status", "active or suspended")),
    };
    let limit = f.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::invalid("limit", format!("1 to {MAX_PAGE}")));
    }
    let after = f
        .cursor
        .map(|c| {
            OrgId::parse(&c).map_err(|_| Error::invalid("cursor", "not a cursor of this list"))
        })
        .transpose()?;
    let mut page = app
        .store
        .org_profiles(&OrgQuery {
            external_id: f.external_id,
            plan_id: f.plan_id,
            suspended,
            after,
            limit: limit + 1,
        })
        .await?;
    let next = if page.len() > limit as usize {
        page.truncate(limit as usize);
        page.last().map(|o| o.org_id.to_string())
    } else {
        None
    };
    Ok((page, next))
}

/// A change of `PATCH /operator/v1/orgs/{org_id}`: `None` leaves a field,
/// `Some(None)` clears it.
#[derive(Default)]
pub struct OrgChange {
    pub name: Option<String>,
    pub external_id: Option<Option<String>>,
    pub plan_id: Option<Option<String>>,
    pub metadata: Option<BTreeMap<String, String>>,
}

pub async fn update_org(
    app: &App,
    op: &Operator,
    org_id: &str,
    change: OrgChange,
) -> Result<OrgProfile, Error> {
    let mut org = org(app, org_id).await?;
    if let Some(n) = change.name {
        org.name = DisplayName::parse(&n, "name")?.into_string();
    }
    if let Some(e) = change.external_id {
        org.external_id = e.as_deref().map(external_id).transpose()?;
    }
    if let Some(p) = change.plan_id {
        org.plan_id = plan_id(app, p.as_deref()).await?;
    }
    if let Some(m) = change.metadata {
        org.metadata = metadata(m)?;
    }
    let event = op.actor.event(
        Some(&org.org_id),
        "org.updated",
        None,
        json!({"name": org.name, "external_id": org.external_id, "plan_id": org.plan_id,
               "metadata": org.metadata}),
    );
    write(app, &org, event).await?;
    Ok(org)
}

/// Suspends an organization: its keys' logins and tokens are refused with
/// `org_suspended` at once (this instance's cache now, the others' through
/// the change feed); its members still sign in and see the reason.
pub async fn suspend(
    app: &App,
    op: &Operator,
    org_id: &str,
    reason: &str,
) -> Result<OrgProfile, Error> {
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 500 {
        return Err(Error::invalid("reason", "1 to 500 characters"));
    }
    let mut org = org(app, org_id).await?;
    org.suspended = Some(Suspension {
        reason: reason.to_owned(),
        since: now_ms(),
    });
    let event = op.actor.event(
        Some(&org.org_id),
        "org.suspended",
        None,
        json!({"reason": reason}),
    );
    write(app, &org, event).await?;
    Ok(org)
}

/// Resumes an organization; no key changes.
pub async fn resume(app: &App, op: &Operator, org_id: &str) -> Result<OrgProfile, Error> {
    let mut org = org(app, org_id).await?;
    org.suspended = None;
    let event = op
        .actor
        .event(Some(&org.org_id), "org.resumed", None, json!({}));
    write(app, &org, event).await?;
    Ok(org)
}

async fn write(app: &App, org: &OrgProfile, event: AuditEvent) -> Result<(), Error> {
    app.store
        .update_org_profile(org, std::slice::from_ref(&event))
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => Error::Conflict(m.to_owned()),
            e => e.into(),
        })?;
    // This instance at once; the others through the change feed.
    app.cache
        .refresh_org(app.store.as_ref(), &org.org_id)
        .await?;
    Ok(())
}

/// Why the organization is suspended, for its members (the app's banner).
pub async fn suspension(app: &App, org_id: &OrgId) -> Result<Option<Suspension>, Error> {
    Ok(app
        .store
        .org_profile(org_id)
        .await?
        .and_then(|o| o.suspended))
}

/// One row of the usage export: a key that had calls in the span.
pub struct UsageRow {
    pub org_id: OrgId,
    pub external_id: Option<String>,
    pub client_id: keygate_core::ClientId,
    pub counts: keygate_store::UsageCounts,
}

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// The start of the UTC month of `at`.
fn month_start(at: i64) -> i64 {
    let text = keygate_core::time::format_rfc3339(at);
    keygate_core::time::parse_rfc3339(&format!("{}01T00:00:00Z", &text[..8])).unwrap_or(at)
}

/// Every key's counts of every organization in `[from, to)` (RFC 3339;
/// default: this UTC month so far), read the way `/dev/v1/orgs/{org}/usage`
/// reads them: whole days from the daily table when both ends are midnights,
/// else minutes (`from` rounded down, `to` up) from the minute table.
pub async fn usage(
    app: &App,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<UsageRow>, Error> {
    let time = |v: Option<&str>, field: &str| {
        v.map(|s| {
            keygate_core::time::parse_rfc3339(s)
                .ok_or_else(|| Error::invalid(field, "an RFC 3339 date-time"))
        })
        .transpose()
    };
    let now = now_ms();
    let to = time(to, "to")?.unwrap_or(now);
    let from = time(from, "from")?.unwrap_or_else(|| month_start(now));
    if from >= to {
        return Err(Error::invalid("from", "must be before `to`"));
    }
    let (table, from, to) = if from % DAY_MS == 0 && to % DAY_MS == 0 {
        (keygate_store::UsageTable::Days, from, to)
    } else {
        let first = from.div_euclid(MINUTE_MS) * MINUTE_MS;
        let end = (to + MINUTE_MS - 1).div_euclid(MINUTE_MS) * MINUTE_MS;
        (keygate_store::UsageTable::Minutes, first, end)
    };
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let page = app
            .store
            .org_profiles(&OrgQuery {
                after: after.clone(),
                limit: MAX_PAGE,
                ..OrgQuery::default()
            })
            .await?;
        for org in &page {
            let mut keys = app.store.usage_by_key(&org.org_id, table, from, to).await?;
            keys.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            rows.extend(keys.into_iter().filter(|(_, c)| !c.is_zero()).map(
                |(client_id, counts)| UsageRow {
                    org_id: org.org_id.clone(),
                    external_id: org.external_id.clone(),
                    client_id,
                    counts,
                },
            ));
        }
        match page.last() {
            Some(last) if page.len() == MAX_PAGE as usize => after = Some(last.org_id.clone()),
            _ => break,
        }
    }
    Ok(rows)
}
