//! The audit log in words: an event as a sentence ("ana@… regenerated the
//! admin key of Demo HK; the old key works until 7 Dec 2026, 15:53 UTC") and
//! its details as labelled fields, times as people write them. The event's
//! code stays beside it, as the JSON API names it.

use keygate_core::time::parse_rfc3339;
use keygate_core::{KeyScope, RateLimit};
use keygate_store::{AccountRecord, AuditEvent};
use serde_json::Value;

use crate::ui::layout::{humanize, when};
use crate::ui::rate_limit::words;
use crate::ui::routes::keys::form::scope_lines;

/// What the sentences need to name things: the organization and its accounts.
pub struct Names<'a> {
    pub org_id: &'a str,
    pub org_name: &'a str,
    pub accounts: &'a [AccountRecord],
}

impl Names<'_> {
    /// An admin key's owner: the organization or one of its accounts.
    fn owner(&self, owner_id: &str) -> String {
        if owner_id == self.org_id {
            return format!("the organization {}", self.org_name);
        }
        self.accounts
            .iter()
            .find(|a| a.account_id.as_str() == owner_id)
            .map_or_else(|| owner_id.to_owned(), |a| a.name.clone())
    }
}

/// The event as one sentence, from its actor's point of view.
pub fn sentence(e: &AuditEvent, key_name: &str, names: &Names) -> String {
    let d = &e.details;
    let who = e.actor_email.as_deref().unwrap_or("Keygate");
    let text = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
    let key = if key_name.is_empty() {
        "a key".to_owned()
    } else {
        format!("“{key_name}”")
    };
    let owner = names.owner(&text("owner_id"));
    let old_key = || match d["previous_secret_expires_at"]
        .as_str()
        .and_then(parse_rfc3339)
    {
        Some(t) if t > e.occurred_at => format!("; the old key works until {}", when(t)),
        Some(_) => "; the old key stopped working at once".to_owned(),
        None => String::new(),
    };
    match e.action.as_str() {
        "scoped_key.created" => format!("{who} created the scoped key {key}"),
        "scoped_key.duplicated" => format!("{who} created the scoped key {key} as a duplicate"),
        "scoped_key.updated" => format!("{who} edited the scoped key {key}"),
        "scoped_key.deleted" => format!("{who} deleted the scoped key {key}"),
        "scoped_key.regenerated" => {
            format!("{who} regenerated the scoped key {key}{}", old_key())
        }
        "scoped_key.unused" | "admin_key.unused" => {
            format!("The key {key} has not been used for a long time")
        }
        "admin_key.generated" => format!("{who} generated the admin key of {owner}"),
        "admin_key.regenerated" => {
            format!("{who} regenerated the admin key of {owner}{}", old_key())
        }
        "admin_key.updated" => format!("{who} changed the rate limit of the admin key of {owner}"),
        "login.federated" => format!(
            "{} (subject {}) got a token of the key {key} by token exchange",
            text("issuer"),
            text("subject")
        ),
        "api_key.exposed" => format!("The key {key} was reported leaked in public"),
        "account.created" => format!("{who} created the account {}", text("name")),
        "invitation.created" => format!("{who} invited {}", text("email")),
        "invitation.withdrawn" => format!("{who} withdrew an invitation"),
        "invitation.accepted" => format!("{who} accepted an invitation"),
        "member.joined" => format!("{who} joined the organization"),
        "member.removed" => format!("{who} removed a member"),
        "member.role_changed" => format!("{who} changed a member's role"),
        "session.created" if e.details["method"] == "sso" => {
            format!("{who} signed in with single sign-on")
        }
        "session.created" if text("method") == "passkey" => {
            format!("{who} signed in with a passkey")
        }
        "session.created" => format!("{who} signed in"),
        "session.ended" => format!("{who} signed out"),
        "password.changed" => format!("{who} changed their password"),
        "two_factor.enabled" => format!("{who} turned on two-factor authentication"),
        "two_factor.disabled" => format!("{who} turned off two-factor authentication"),
        "passkey.added" => format!("{who} added the passkey {}", text("name")),
        "passkey.removed" => format!("{who} removed the passkey {}", text("name")),
        "org.created" => format!("{who} created the organization"),
        "org.updated" => format!("{who} changed the organization's settings"),
        "org.key_policy_updated" => format!("{who} changed the key policy"),
        "sso.updated" => format!("{who} set up single sign-on"),
        "sso.deleted" => format!("{who} turned off single sign-on"),
        "org.suspended" => "The operator suspended the organization".to_owned(),
        "org.resumed" => "The operator resumed the organization".to_owned(),
        other => {
            let (area, what) = other.split_once('.').unwrap_or((other, ""));
            format!("{who}: {} {}", humanize(area), what.replace('_', " "))
        }
    }
}

/// The details as (label, value), the ones the sentence already says left out.
pub fn fields(e: &AuditEvent, names: &Names) -> Vec<(String, String)> {
    let Some(obj) = e.details.as_object() else {
        return Vec::new();
    };
    obj.iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "name" | "invitation_id" | "user_id" | "previous_secret_expires_at"
            )
        })
        .filter_map(|(k, v)| {
            let shown = match (v.get("before"), v.get("after")) {
                (Some(b), Some(a)) if v.as_object().is_some_and(|o| o.len() == 2) => {
                    let (b, a) = (value(k, b, names), value(k, a, names));
                    (b != a).then(|| format!("{b} → {a}"))?
                }
                _ => value(k, v, names),
            };
            Some((label(k), shown))
        })
        .collect()
}

fn label(key: &str) -> String {
    match key {
        "owner_id" => "Owner".into(),
        "scope" => "Permissions".into(),
        "expires_at" => "Expires".into(),
        "allowed_networks" => "Allowed networks".into(),
        "rate_limit" => "Rate limit".into(),
        "invited_by" => "Invited by".into(),
        "new_account" => "New account".into(),
        "account_id" => "Account".into(),
        other => humanize(other),
    }
}

fn value(key: &str, v: &Value, names: &Names) -> String {
    match (key, v) {
        (_, Value::Null) => "None".into(),
        ("owner_id", Value::String(s)) | ("account_id", Value::String(s)) => names.owner(s),
        ("rate_limit", v) => serde_json::from_value::<RateLimit>(v.clone())
            .map(words)
            .unwrap_or_else(|_| v.to_string()),
        ("scope", v) => match serde_json::from_value::<KeyScope>(v.clone()) {
            Ok(scope) => scope_lines(&scope, names.accounts)
                .into_iter()
                .map(|(level, what)| format!("{level}: {what}"))
                .collect::<Vec<_>>()
                .join("; "),
            Err(_) => v.to_string(),
        },
        ("allowed_networks", Value::Array(a)) if a.is_empty() => "Any network".into(),
        (_, Value::String(s)) => match parse_rfc3339(s) {
            Some(t) if s.len() >= 20 && s.as_bytes().get(10) == Some(&b'T') => when(t),
            _ => s.clone(),
        },
        (_, Value::Bool(b)) => if *b { "Yes" } else { "No" }.into(),
        (_, Value::Number(n)) => n.to_string(),
        (_, Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), |s| names.owner(s)))
            .collect::<Vec<_>>()
            .join(", "),
        (_, other) => other.to_string(),
    }
}
