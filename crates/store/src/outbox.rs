//! What a key event puts in the outbox, the same for every backend: which audit
//! actions notify, the JSON payload they send, and who receives it.

use keygate_core::Role;
use keygate_core::time::format_rfc3339;
use serde_json::{Map, Value, json};

use crate::AuditEvent;

/// The audit actions that notify: every key event of the reference page, and
/// a key reported leaked (`api_key.exposed`), the lifecycle events the
/// background sweeper writes (a grace period ended, an expiry is near, a key
/// expired), and a key not used for `--unused-key-days` (`*.unused`).
pub const KEY_EVENTS: [&str; 19] = [
    "admin_key.generated",
    "admin_key.regenerated",
    "admin_key.updated",
    "scoped_key.created",
    "scoped_key.regenerated",
    "scoped_key.duplicated",
    "scoped_key.updated",
    "scoped_key.deleted",
    "api_key.exposed",
    "admin_key.previous_secret_expired",
    "scoped_key.previous_secret_expired",
    "admin_key.expiring",
    "scoped_key.expiring",
    "admin_key.expired",
    "scoped_key.expired",
    // Sent once per idle stretch (`--unused-key-days`).
    "admin_key.unused",
    "scoped_key.unused",
    // 80, 90 and 100 % of a plan's quota, once per org, quota and period.
    "quota.threshold",
    // A key's credits ran out, once per setting and refill period.
    "api_key.credits_exhausted",
];

/// The events an operator webhook may subscribe to: those of every
/// organization that concern the API provider's back office.
pub const OPERATOR_EVENTS: [&str; 5] = [
    "org.created",
    "org.suspended",
    "org.resumed",
    "quota.threshold",
    "api_key.exposed",
];

pub fn is_operator_event(name: &str) -> bool {
    OPERATOR_EVENTS.contains(&name)
}

/// Members with these roles get an email for every key event: the roles that
/// may use the Developer app.
pub const EMAIL_ROLES: [Role; 3] = [Role::Owner, Role::Admin, Role::Developer];

/// The roles mailed for the event `action`, a subset of [`EMAIL_ROLES`]: a
/// leaked key goes to the people who can decide about the organization's
/// keys (owners and admins), every other key event to all three.
pub fn email_roles(action: &str) -> &'static [Role] {
    match action {
        "api_key.exposed" | "quota.threshold" | "api_key.credits_exhausted" => &EMAIL_ROLES[..2],
        _ => &EMAIL_ROLES,
    }
}

/// The `org_id` of outbox rows of a [`crate::UserMail`] that belongs to no
/// organization (a password reset): a well-formed id no organization has, so
/// no organization's delivery list shows them.
pub const NO_ORG: &str = "org_0000000000000000000000";

/// The notification name of every [`crate::UserMail`].
pub const USER_MAIL: &str = "user_mail";

/// The payload of a [`crate::UserMail`] as the outbox stores it (no token: the
/// link's nonce only).
pub fn user_mail_payload(m: &crate::UserMail) -> String {
    json!({
        "type": USER_MAIL,
        "to": m.to,
        "subject": m.subject,
        "text": m.text,
        "link": m.link.as_ref().map(|l| json!({"path": l.path, "nonce": l.nonce})),
    })
    .to_string()
}

/// How long a delivery is retried before it is given up.
pub const RETRY_WINDOW_MS: i64 = 3 * 24 * 60 * 60 * 1000;

pub fn is_key_event(name: &str) -> bool {
    KEY_EVENTS.contains(&name)
}

/// Whether a webhook subscribed to `events` wants `name`.
pub fn subscribed(events: &[String], name: &str) -> bool {
    events.iter().any(|e| e == name)
}

/// One outbox row to write: a webhook's id, or a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Webhook(String),
    Email(String),
}

impl Target {
    /// `(channel, webhook_id, recipient)` as the `deliveries` table stores them.
    pub fn columns(&self) -> (&'static str, Option<&str>, Option<&str>) {
        match self {
            Target::Webhook(id) => ("webhook", Some(id), None),
            Target::Email(to) => ("email", None, Some(to)),
        }
    }
}

/// Who gets a key event named `action`, the same for every backend: every
/// enabled webhook of the organization subscribed to it (`webhooks` holds
/// `(webhook_id, events)` of the enabled ones), then every member address
/// (`emails` holds `(email, role)` of the members with an [`EMAIL_ROLES`]
/// role) whose role is one of [`email_roles`] for the action.
pub fn targets(
    action: &str,
    webhooks: Vec<(String, Vec<String>)>,
    emails: Vec<(String, Role)>,
) -> Vec<Target> {
    let roles = email_roles(action);
    webhooks
        .into_iter()
        .filter(|(_, events)| subscribed(events, action))
        .map(|(id, _)| Target::Webhook(id))
        .chain(
            emails
                .into_iter()
                .filter(|(_, role)| roles.contains(role))
                .map(|(email, _)| Target::Email(email)),
        )
        .collect()
}

/// The notification payload for an audit event, as the JSON text every channel
/// sends, or `None` when the event is not a key event (or names no organization).
///
/// `{"id","name","created_at","org_id","account_id","data"}`; `data` has the
/// client id, key name and kind, the acting user, the source IP and, where the
/// action has one, the scope (`before` and/or `after`). The audit details never
/// hold a secret or its digest, and only named fields are copied from them.
pub fn event_payload(e: &AuditEvent) -> Option<String> {
    if !is_key_event(&e.action) && !is_operator_event(&e.action) {
        return None;
    }
    let org_id = e.org_id.as_ref()?;
    let d = &e.details;
    if e.action.starts_with("org.") {
        // The organization's own events (operator webhooks only).
        let mut data = Map::new();
        data.insert("org_id".into(), json!(org_id));
        for f in ["name", "external_id", "plan_id", "reason"] {
            if let Some(v) = d.get(f) {
                data.insert(f.into(), v.clone());
            }
        }
        let payload = json!({
            "id": e.event_id,
            "name": e.action,
            "created_at": format_rfc3339(e.occurred_at),
            "org_id": org_id,
            "account_id": null,
            "data": Value::Object(data),
        });
        return Some(payload.to_string());
    }
    if e.action == "quota.threshold" {
        let mut data = Map::new();
        data.insert("org_id".into(), json!(org_id));
        for f in [
            "external_id",
            "period",
            "period_start",
            "requests",
            "used",
            "percent",
        ] {
            data.insert(f.into(), d[f].clone());
        }
        let payload = json!({
            "id": e.event_id,
            "name": e.action,
            "created_at": format_rfc3339(e.occurred_at),
            "org_id": org_id,
            "account_id": null,
            "data": Value::Object(data),
        });
        return Some(payload.to_string());
    }
    // `api_key.exposed` is about either kind: its details say which.
    let kind = d["kind"]
        .as_str()
        .unwrap_or_else(|| e.action.split('_').next().unwrap_or_default());
    let name_after = d["name"]["after"].as_str().or(d["name"].as_str());
    let mut data = Map::new();
    data.insert("client_id".into(), json!(e.client_id));
    data.insert("key_name".into(), json!(name_after));
    data.insert("key_kind".into(), json!(kind));
    if let Some(before) = d["name"]["before"]
        .as_str()
        .filter(|b| Some(*b) != name_after)
    {
        data.insert("previous_key_name".into(), json!(before));
    }
    if let Some(owner) = d["owner_id"].as_str() {
        data.insert("owner_id".into(), json!(owner));
    }
    if let Some(from) = d["duplicated_from"].as_str() {
        data.insert("duplicated_from".into(), json!(from));
    }
    if e.action == "api_key.credits_exhausted" {
        data.insert("credits".into(), d["credits"].clone());
        data.insert("refills_at".into(), d["refills_at"].clone());
    }
    if e.action.ends_with(".unused") {
        data.insert("last_used_at".into(), d["last_used_at"].clone());
        data.insert("unused_days".into(), d["unused_days"].clone());
    }
    // `{"before","after"}` when a change touched it, else the key's limit.
    if d["rate_limit"].is_object() {
        data.insert("rate_limit".into(), d["rate_limit"].clone());
    }
    // Lifecycle times, where the action has them (RFC 3339 texts).
    for field in [
        "expires_at",
        "previous_expires_at",
        "previous_secret_expires_at",
        "previous_secret_expired_at",
        "expires_within_days",
    ] {
        let v = &d[field];
        if v.is_string()
            || v.is_number()
            || (v.is_null() && field == "expires_at" && d.get(field).is_some())
        {
            data.insert(field.into(), v.clone());
        } else if v.is_object() {
            data.insert(
                field.into(),
                json!({"before": v["before"], "after": v["after"]}),
            );
        }
    }
    let scope = match e.action.as_str() {
        "scoped_key.updated" => Some(json!({
            "before": scope_view(&d["scope"]["before"]),
            "after": scope_view(&d["scope"]["after"]),
        })),
        "scoped_key.created" | "scoped_key.duplicated" => {
            Some(json!({"after": scope_view(&d["scope"])}))
        }
        "scoped_key.deleted" => Some(json!({"before": scope_view(&d["scope"])})),
        _ => None,
    };
    if let Some(s) = scope {
        data.insert("scope".into(), s);
    }
    if e.action == "api_key.exposed" {
        // Where it was found and what was done; the report's secret is never
        // in the audit details.
        let x = &d["exposure"];
        data.insert(
            "exposure".into(),
            json!({
                "reported_by": x["reported_by"],
                "location": x["location"],
                "source": x["source"],
                "action": x["action"],
            }),
        );
    }
    data.insert(
        "actor".into(),
        json!({"user_id": e.actor_user_id, "email": e.actor_email}),
    );
    data.insert("source_ip".into(), json!(e.source_ip));
    let account_id = account_of(e);
    let payload = json!({
        "id": e.event_id,
        "name": e.action,
        "created_at": format_rfc3339(e.occurred_at),
        "org_id": org_id,
        "account_id": account_id,
        "data": Value::Object(data),
    });
    Some(payload.to_string())
}

/// A scope as the management API shows it (without the internal `type` tag).
fn scope_view(scope: &Value) -> Value {
    let mut s = scope.clone();
    if let Some(m) = s.as_object_mut() {
        m.remove("type");
    }
    s
}

/// The one account the event is about: an account admin key's account, or the
/// single account a scoped key covers.
fn account_of(e: &AuditEvent) -> Option<String> {
    let d = &e.details;
    if let Some(owner) = d["owner_id"].as_str().filter(|o| o.starts_with("acct_")) {
        return Some(owner.to_owned());
    }
    let scope = if d["scope"]["after"].is_object() {
        &d["scope"]["after"]
    } else {
        &d["scope"]
    };
    match scope["account_permissions"]["accounts"].as_array() {
        Some(a) if a.len() == 1 => a[0].as_str().map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_core::{ClientId, EventId, OrgId, UserId};

    fn event(action: &str, details: Value) -> AuditEvent {
        AuditEvent {
            seq: 0,
            event_id: EventId::generate(),
            org_id: Some(OrgId::generate()),
            occurred_at: 1_778_544_000_000,
            actor_user_id: Some(UserId::generate()),
            actor_email: Some("dev@acme.test".into()),
            client_id: Some(ClientId::generate()),
            action: action.into(),
            source_ip: Some("203.0.113.9".into()),
            user_agent: None,
            details,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn only_key_events_have_a_payload() {
        assert!(event_payload(&event("session.created", json!({}))).is_none());
        assert!(event_payload(&event("scoped_key.regenerated", json!({"name": "x"}))).is_some());
    }

    #[test]
    fn lifecycle_events_carry_their_times() {
        let e = event(
            "scoped_key.regenerated",
            json!({"name": "x", "previous_secret_expires_at": "2026-05-12T01:00:00.000Z",
                   "expires_at": null, "password": "never copied"}),
        );
        let p: Value = serde_json::from_str(&event_payload(&e).unwrap()).unwrap();
        assert_eq!(
            p["data"]["previous_secret_expires_at"],
            "2026-05-12T01:00:00.000Z"
        );
        assert!(p["data"]["expires_at"].is_null() && p["data"].get("expires_at").is_some());
        assert!(p["data"].get("password").is_none());
        let e = event(
            "admin_key.expiring",
            json!({"name": "x", "expires_at": "2026-05-19T00:00:00.000Z", "expires_within_days": 7}),
        );
        let p: Value = serde_json::from_str(&event_payload(&e).unwrap()).unwrap();
        assert_eq!(p["data"]["expires_within_days"], 7);
        assert_eq!(p["data"]["expires_at"], "2026-05-19T00:00:00.000Z");
    }

    #[test]
    fn an_update_carries_the_scope_before_and_after_and_the_actor() {
        let e = event(
            "scoped_key.updated",
            json!({"name": {"before": "old", "after": "new"},
                   "scope": {"before": {"type": "scoped", "account_permissions": {"accounts": "all"}},
                             "after": {"type": "scoped", "account_permissions": {"accounts": ["acct_1"]}}}}),
        );
        let p: Value = serde_json::from_str(&event_payload(&e).unwrap()).unwrap();
        assert_eq!(p["name"], "scoped_key.updated");
        assert_eq!(p["created_at"], "2026-05-12T00:00:00.000Z");
        assert_eq!(p["account_id"], "acct_1");
        assert_eq!(p["data"]["key_name"], "new");
        assert_eq!(p["data"]["previous_key_name"], "old");
        assert_eq!(p["data"]["key_kind"], "scoped");
        assert_eq!(
            p["data"]["scope"]["before"]["account_permissions"]["accounts"],
            "all"
        );
        assert!(p["data"]["scope"]["after"].get("type").is_none());
        assert_eq!(p["data"]["actor"]["email"], "dev@acme.test");
        assert_eq!(p["data"]["source_ip"], "203.0.113.9");
    }

    #[test]
    fn an_account_admin_key_names_its_account() {
        let e = event(
            "admin_key.generated",
            json!({"owner_id": "acct_x", "name": "Admin key for HK"}),
        );
        let p: Value = serde_json::from_str(&event_payload(&e).unwrap()).unwrap();
        assert_eq!(p["account_id"], "acct_x");
        assert_eq!(p["data"]["key_kind"], "admin");
        assert!(p["data"].get("scope").is_none());
    }
}
