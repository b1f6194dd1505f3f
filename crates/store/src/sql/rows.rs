//! Rows to records, the same for both databases.

use std::str::FromStr;

use keygate_core::credits::{Credits, Refill};
use keygate_core::crypto::Digest;
use keygate_core::federation::{FederationRule, FederationRules};
use keygate_core::network::Networks;
use keygate_core::permission::KeyScope;
use keygate_core::quota::Period;
use keygate_core::{RateLimit, Role};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{Sql, db};
use crate::{
    AccountRecord, AttemptRecord, AuditEvent, DeliveryRecord, DeliveryStatus, DeliveryTarget,
    KeyKind, KeyRecord, MemberRecord, Membership, OrgRecord, PreviousSecret, Result, StoreError,
    UserRecord, WebhookRecord,
};

/// Reading one column of a row, by name, as the types the schema uses.
pub(crate) trait Get {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
    fn flag(&self, col: &str) -> Result<bool>;
}

impl<R: Row> Get for R
where
    R::Database: Sql,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, col: &str) -> Result<String> {
        self.try_get(col).map_err(db::<R::Database>)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        self.try_get(col).map_err(db::<R::Database>)
    }
    fn int(&self, col: &str) -> Result<i64> {
        self.try_get(col).map_err(db::<R::Database>)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        self.try_get(col).map_err(db::<R::Database>)
    }
    fn flag(&self, col: &str) -> Result<bool> {
        self.try_get(col).map_err(db::<R::Database>)
    }
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt {what} in the database"))
}

pub(crate) fn parse_id<T: FromStr>(s: &str) -> Result<T> {
    T::from_str(s).map_err(|_| corrupt("identifier"))
}

pub(crate) fn parse_role(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| corrupt("role"))
}

pub(crate) fn parse_scope(text: &str) -> Result<KeyScope> {
    serde_json::from_str(text).map_err(|_| corrupt("scope"))
}

pub(crate) fn scope_json(scope: &KeyScope) -> Result<String> {
    serde_json::to_string(scope).map_err(|e| StoreError::Internal(e.to_string()))
}

/// A key's stored allowlist: null (anywhere) or a JSON array of CIDRs.
pub(crate) fn parse_networks(text: Option<&str>) -> Result<Networks> {
    match text {
        None | Some("") => Ok(Networks::default()),
        Some(t) => serde_json::from_str::<Vec<String>>(t)
            .ok()
            .and_then(|v| Networks::from_stored(&v))
            .ok_or_else(|| corrupt("allowed networks")),
    }
}

/// What `parse_networks` reads: null for anywhere.
pub(crate) fn networks_json(n: &Networks) -> Option<String> {
    (!n.is_empty()).then(|| serde_json::Value::from(n.to_strings()).to_string())
}

pub(crate) fn events_of(json: &str) -> Result<Vec<String>> {
    serde_json::from_str(json).map_err(|_| StoreError::Internal("corrupt webhook events".into()))
}

pub(crate) fn events_json(events: &[String]) -> String {
    serde_json::Value::from(events.to_vec()).to_string()
}

fn id<T: FromStr>(r: &impl Get, col: &str) -> Result<T> {
    parse_id(&r.text(col)?)
}

fn opt_id<T: FromStr>(r: &impl Get, col: &str) -> Result<Option<T>> {
    r.opt_text(col)?.map(|s| parse_id(&s)).transpose()
}

pub(crate) fn org_row(r: &impl Get) -> Result<OrgRecord> {
    Ok(OrgRecord {
        org_id: id(r, "org_id")?,
        name: r.text("name")?,
        created_at: r.int("created_at")?,
    })
}

pub(crate) fn account_row(r: &impl Get) -> Result<AccountRecord> {
    Ok(AccountRecord {
        account_id: id(r, "account_id")?,
        org_id: id(r, "org_id")?,
        name: r.text("name")?,
        created_at: r.int("created_at")?,
    })
}

pub(crate) fn user_row(r: &impl Get) -> Result<UserRecord> {
    Ok(UserRecord {
        user_id: id(r, "user_id")?,
        email: r.text("email")?,
        password_hash: r.text("password_hash")?,
        created_at: r.int("created_at")?,
    })
}

pub(crate) fn member_row(r: &impl Get) -> Result<MemberRecord> {
    Ok(MemberRecord {
        user_id: id(r, "user_id")?,
        email: r.text("email")?,
        role: parse_role(&r.text("role")?)?,
        created_at: r.int("created_at")?,
        two_factor: r.flag("two_factor")?,
    })
}

pub(crate) fn membership_row(r: &impl Get) -> Result<Membership> {
    Ok(Membership {
        org_id: id(r, "org_id")?,
        org_name: r.text("name")?,
        role: parse_role(&r.text("role")?)?,
    })
}

/// The `kind` column of `api_keys`.
pub(crate) fn kind_row(r: &impl Get) -> Result<KeyKind> {
    match r.text("kind")?.as_str() {
        "admin" => Ok(KeyKind::Admin),
        "scoped" => Ok(KeyKind::Scoped),
        _ => Err(corrupt("key kind")),
    }
}

// The columns of `api_keys` that `key_row` reads (`keys.rs`, `leaks.rs`), a
// macro so queries stay `&'static str` (sqlx refuses SQL built at run time).
macro_rules! key_columns {
    () => {
        "client_id, org_id, kind, owner_id, name, secret_hash, generation, scope, created_at, updated_at, \
         exposed_at, rate_limit_requests, rate_limit_seconds, \
         expires_at, previous_secret_hash, previous_secret_expires_at, allowed_networks, require_dpop, \
         credits_remaining, credits_refill_amount, credits_refill_period, credits_period_start, \
         credits_set_at, federation"
    };
}
pub(crate) use key_columns;

pub(crate) fn key_row(r: &impl Get) -> Result<KeyRecord> {
    let kind = kind_row(r)?;
    Ok(KeyRecord {
        client_id: id(r, "client_id")?,
        org_id: id(r, "org_id")?,
        kind,
        owner_id: r.opt_text("owner_id")?,
        name: r.text("name")?,
        secret_hash: Digest::from_hex(&r.text("secret_hash")?)
            .ok_or_else(|| corrupt("key digest"))?,
        generation: u64::try_from(r.int("generation")?).map_err(|_| corrupt("generation"))?,
        scope: parse_scope(&r.text("scope")?)?,
        rate_limit: rate_limit_row(r)?,
        expires_at: r.opt_int("expires_at")?,
        previous_secret: match (
            r.opt_text("previous_secret_hash")?,
            r.opt_int("previous_secret_expires_at")?,
        ) {
            (Some(hash), Some(expires_at)) => Some(PreviousSecret {
                secret_hash: Digest::from_hex(&hash).ok_or_else(|| corrupt("key digest"))?,
                expires_at,
            }),
            _ => None,
        },
        allowed_networks: parse_networks(r.opt_text("allowed_networks")?.as_deref())?,
        require_dpop: r.flag("require_dpop")?,
        federation: parse_federation(r.opt_text("federation")?.as_deref())?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
        exposed_at: r.opt_int("exposed_at")?,
        credits: credits_row(r)?,
    })
}

/// A key's credits columns; `None` when `credits_remaining` is null.
fn credits_row(r: &impl Get) -> Result<Option<Credits>> {
    let Some(remaining) = r.opt_int("credits_remaining")? else {
        return Ok(None);
    };
    let refill = match (
        r.opt_int("credits_refill_amount")?,
        r.opt_text("credits_refill_period")?,
    ) {
        (Some(amount), Some(period)) => Some(Refill {
            amount,
            period: Period::parse(&period).ok_or_else(|| corrupt("credits refill period"))?,
        }),
        _ => None,
    };
    Ok(Some(Credits {
        remaining,
        refill,
        period_start: r.opt_int("credits_period_start")?.unwrap_or(0),
        set_at: r.opt_int("credits_set_at")?.unwrap_or(0),
    }))
}

/// The `rate_limit_requests` / `rate_limit_seconds` pair of a key or an org.
pub(crate) fn rate_limit_row(r: &impl Get) -> Result<Option<RateLimit>> {
    Ok(RateLimit::from_columns(
        r.opt_int("rate_limit_requests")?,
        r.opt_int("rate_limit_seconds")?,
    ))
}

pub(crate) fn audit_row(r: &impl Get) -> Result<AuditEvent> {
    Ok(AuditEvent {
        seq: r.opt_int("org_seq")?.unwrap_or(0),
        event_id: id(r, "audit_event_id")?,
        org_id: opt_id(r, "org_id")?,
        occurred_at: r.int("occurred_at")?,
        actor_user_id: opt_id(r, "actor_user_id")?,
        actor_email: r.opt_text("actor_email")?,
        client_id: opt_id(r, "client_id")?,
        action: r.text("action")?,
        source_ip: r.opt_text("source_ip")?,
        user_agent: r.opt_text("user_agent")?,
        details: serde_json::from_str(&r.text("details")?).map_err(|_| corrupt("audit details"))?,
        prev_hash: r.opt_text("prev_hash")?.unwrap_or_default(),
        hash: r.opt_text("hash")?.unwrap_or_default(),
    })
}

pub(crate) fn webhook_row(r: &impl Get) -> Result<WebhookRecord> {
    Ok(WebhookRecord {
        webhook_id: id(r, "webhook_id")?,
        org_id: id(r, "org_id")?,
        url: r.text("url")?,
        events: events_of(&r.text("events")?)?,
        enabled: r.flag("enabled")?,
        secret_salt: r.text("secret_salt")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
    })
}

pub(crate) fn delivery_row(r: &impl Get) -> Result<DeliveryRecord> {
    let corrupt = |what: &str| StoreError::Internal(format!("corrupt delivery {what}"));
    let target = match r.text("channel")?.as_str() {
        "webhook" => DeliveryTarget::Webhook(parse_id(
            &r.opt_text("webhook_id")?
                .ok_or_else(|| corrupt("webhook"))?,
        )?),
        "email" => DeliveryTarget::Email(
            r.opt_text("recipient")?
                .ok_or_else(|| corrupt("recipient"))?,
        ),
        _ => return Err(corrupt("channel")),
    };
    Ok(DeliveryRecord {
        seq: r.int("delivery_seq")?,
        delivery_id: id(r, "delivery_id")?,
        event_id: id(r, "event_id")?,
        event_name: r.text("event_name")?,
        org_id: id(r, "org_id")?,
        target,
        status: DeliveryStatus::parse(&r.text("status")?).ok_or_else(|| corrupt("status"))?,
        attempts: u32::try_from(r.int("attempts")?).map_err(|_| corrupt("attempts"))?,
        next_attempt_at: r.int("next_attempt_at")?,
        give_up_at: r.int("give_up_at")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
        attempt_log: Vec::new(),
    })
}

pub(crate) fn attempt_row(r: &impl Get) -> Result<AttemptRecord> {
    Ok(AttemptRecord {
        attempt: u32::try_from(r.int("attempt")?).unwrap_or(0),
        started_at: r.int("started_at")?,
        ok: r.flag("ok")?,
        status_code: r
            .opt_int("status_code")?
            .and_then(|c| u16::try_from(c).ok()),
        latency_ms: r.int("latency_ms")?,
        error: r.opt_text("error")?,
    })
}

/// A key's federation rules as stored: a JSON list, `null` when there are none.
pub(crate) fn federation_json(rules: &FederationRules) -> Result<Option<String>> {
    if rules.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(rules.as_slice())
        .map(Some)
        .map_err(|_| corrupt("federation rules"))
}

fn parse_federation(text: Option<&str>) -> Result<FederationRules> {
    match text {
        None | Some("") => Ok(FederationRules::default()),
        Some(t) => serde_json::from_str::<Vec<FederationRule>>(t)
            .map(FederationRules::stored)
            .map_err(|_| corrupt("federation rules")),
    }
}
