//! Notification mail: rendered from the event payload, sent through SMTP, or
//! written as an .eml file when no SMTP server is configured.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;

use super::attempt::{Failure, Sent};
use super::mail_dir;
use crate::state::config::NotifySettings;

const TIMEOUT: Duration = Duration::from_secs(10);

pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

/// One mail, ready to send.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Stable per delivery, so a retried mail has the same Message-ID.
    pub message_id: String,
    /// File name stem for the .eml fallback.
    pub file_stem: String,
}

impl Mailer {
    pub fn new(s: &NotifySettings) -> anyhow::Result<Mailer> {
        match &s.smtp_url {
            // The URL may hold a password: errors never repeat it.
            Some(url) => Ok(Mailer::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "--smtp-url is not valid: use smtp://host:port or smtps://user:pass@host:port"
                        )
                    })?
                    .timeout(Some(TIMEOUT))
                    .build(),
            )),
            None => {
                mail_dir::tighten(&s.mail_dir)?;
                Ok(Mailer::Files(s.mail_dir.clone()))
            }
        }
    }

    /// Whether mail can go out now, for `keygate check`: the SMTP server
    /// answers (connection, TLS and login as the URL asks, then `NOOP`). The
    /// error names no secret. Without SMTP, nothing to check.
    pub async fn check(&self) -> Result<(), String> {
        match self {
            Mailer::Smtp(t) => match tokio::time::timeout(TIMEOUT * 2, t.test_connection()).await {
                Ok(Ok(true)) => Ok(()),
                Ok(Ok(false)) => Err("the server did not answer NOOP".into()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out".into()),
            },
            Mailer::Files(_) => Ok(()),
        }
    }

    pub async fn send(&self, from: &str, mail: &Mail) -> Result<Sent, Failure> {
        let message = build(from, mail)?;
        match self {
            Mailer::Smtp(t) => match tokio::time::timeout(TIMEOUT * 2, t.send(message)).await {
                Ok(Ok(resp)) => Ok(Sent {
                    status_code: resp.code().to_string().parse().ok(),
                }),
                Ok(Err(e)) => Err(Failure::new(
                    e.status().and_then(|c| c.to_string().parse().ok()),
                    format!("SMTP: {e}"),
                )),
                Err(_) => Err(Failure::new(None, "SMTP: timed out")),
            },
            Mailer::Files(dir) => {
                let path = mail_dir::write(dir.clone(), &mail.file_stem, message.formatted())
                    .await
                    .map_err(|e| {
                        Failure::new(None, format!("could not write the mail file: {}", e.kind()))
                    })?;
                tracing::info!(to = %mail.to, file = %path.display(), subject = %mail.subject, "mail written (no --smtp-url)");
                Ok(Sent { status_code: None })
            }
        }
    }
}

fn build(from: &str, mail: &Mail) -> Result<Message, Failure> {
    let from: Mailbox = from
        .parse()
        .map_err(|_| Failure::new(None, "--mail-from is not a valid address"))?;
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|_| Failure::new(None, "the recipient address is not valid"))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(mail.message_id.clone()))
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| Failure::new(None, format!("could not build the mail: {e}")))
}

/// The mail for one event to one recipient. Built from the payload only, which
/// never holds a secret.
pub fn render(payload: &Value, org_name: &str, to: &str, delivery_id: &str) -> Mail {
    if payload["name"] == "api_key.exposed" {
        return render_exposed(payload, org_name, to, delivery_id);
    }
    if payload["name"] == "quota.threshold" {
        return render_quota(payload, org_name, to, delivery_id);
    }
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let name = s(&payload["name"]);
    let data = &payload["data"];
    let kind = if data["key_kind"] == "admin" {
        "Admin"
    } else {
        "Scoped"
    };
    let key_name = s(&data["key_name"]);
    let event = name.rsplit('.').next().unwrap_or("");
    // The lifecycle events are Keygate's own, on schedule: no one acted.
    let scheduled = matches!(event, "expiring" | "expired" | "previous_secret_expired");
    // Keygate noticed that the key is idle (`--unused-key-days`).
    let unused = event == "unused";
    // Keygate counted the key's calls to its last credit.
    let exhausted = event == "credits_exhausted";
    let subject = match event {
        "duplicated" => format!("{kind} API key '{key_name}' was created as a duplicate"),
        "expiring" => match data["expires_within_days"].as_i64() {
            Some(1) => format!("{kind} API key '{key_name}' expires within 1 day"),
            _ => format!("{kind} API key '{key_name}' expires within 7 days"),
        },
        "expired" => format!("{kind} API key '{key_name}' has expired"),
        "previous_secret_expired" => {
            format!("The old secret of {kind} API key '{key_name}' stopped working")
        }
        "unused" => format!(
            "{kind} API key '{key_name}' was not used for {} days",
            data["unused_days"].as_u64().unwrap_or(0)
        ),
        "credits_exhausted" => format!("{kind} API key '{key_name}' used up its credits"),
        v => format!("{kind} API key '{key_name}' was {v}"),
    };
    let who = match (
        data["actor"]["email"].as_str(),
        data["actor"]["user_id"].as_str(),
    ) {
        _ if scheduled => "Keygate, on schedule".to_owned(),
        (Some(e), Some(id)) => format!("{e} ({id})"),
        (Some(e), None) => e.to_owned(),
        _ if unused => "nobody: Keygate noticed that the key is idle".to_owned(),
        _ if exhausted => {
            "nobody: Keygate counted the key's calls; they get 429 credits_exhausted".to_owned()
        }
        _ => "an operator using the keygate command".to_owned(),
    };
    let human = |v: &Value| {
        s(v).replace('T', " ")
            .replace(".000Z", " UTC")
            .replace('Z', " UTC")
    };
    let when = human(&payload["created_at"]);
    let from_where = data["source_ip"].as_str().unwrap_or("unknown").to_owned();
    let event_id = s(&payload["id"]);
    let client_id = s(&data["client_id"]);
    let last_used = if data["last_used_at"].is_string() {
        human(&data["last_used_at"])
    } else {
        "never".to_owned()
    };
    let mut facts = vec![
        ("Key", format!("{key_name} (client ID {client_id})")),
        (
            "Organization",
            format!("{org_name} ({})", s(&payload["org_id"])),
        ),
        ("Who", who),
        ("When", when.clone()),
    ];
    if !scheduled && !unused {
        facts.push(("From IP", from_where));
    }
    if unused {
        facts.insert(1, ("Last used", last_used));
    }
    let grace_end = human(&data["previous_secret_expires_at"]);
    if event == "regenerated" && !grace_end.is_empty() && grace_end != when {
        facts.push(("Old secret works until", grace_end));
    }
    if data["expires_at"].is_string() && event != "updated" {
        facts.push(("Key expires", human(&data["expires_at"])));
    }
    facts.push(("Event", format!("{event_id} ({name})")));
    let (first, advice) = match event {
        "expiring" => (
            "Nothing has changed yet.",
            "To keep your integration working, create a new key (or set a later expiry: \
             edit a scoped key, or regenerate an admin key with a new expires_at) and \
             switch over before then.",
        ),
        "expired" => (
            "The key no longer logs in and its tokens are refused.",
            "If something still needs it: sign in to Keygate, open Settings > Developer > \
             API keys, and create a new key or give this one a later expiry.",
        ),
        "previous_secret_expired" => (
            "The grace period after the key was regenerated ended: only the new secret \
             works now, and tokens issued with the old one are refused.",
            "If an integration still used the old secret, give it the new one.",
        ),
        "unused" => (
            "If the key is still needed (a yearly job, say), there is nothing to do.",
            "An unused key is a secret that can leak for no benefit: if nobody \
             needs it any more, sign in to Keygate, open Settings > Developer > API \
             keys and delete it.",
        ),
        _ => (
            "If this was you, there is nothing to do.",
            "If this was not you or someone you trust: sign in to Keygate, open \
             Settings > Developer > API keys, regenerate or delete this key, change \
             your password, and check the audit log for other changes. Tell your \
             organization's owner.",
        ),
    };
    compose(payload, to, delivery_id, subject, &facts, first, advice)
}

/// A mail of a subject, a table of facts, a line and a piece of advice.
fn compose(
    payload: &Value,
    to: &str,
    delivery_id: &str,
    subject: String,
    facts: &[(&str, String)],
    line: &str,
    advice: &str,
) -> Mail {
    let event_id = payload["id"].as_str().unwrap_or("");
    let mut text = format!("{subject}.\n\n");
    for (k, v) in facts {
        text.push_str(&format!("{k}: {v}\n"));
    }
    text.push_str(&format!("\n{}\n\n{}\n", wrap(line, 72), wrap(advice, 72)));
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><h2>{}</h2><table>",
        esc(&subject)
    );
    for (k, v) in facts {
        html.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            esc(k),
            esc(v)
        ));
    }
    html.push_str(&format!(
        "</table><p>{}</p><p><strong>{}</strong></p></body></html>",
        esc(line),
        esc(advice)
    ));
    Mail {
        to: to.to_owned(),
        subject,
        text,
        html,
        message_id: format!("<{event_id}.{delivery_id}@keygate>"),
        file_stem: format!(
            "{}-{event_id}-{delivery_id}",
            payload["created_at"]
                .as_str()
                .unwrap_or("")
                .replace([':', '.'], "")
        ),
    }
}

/// `api_key.exposed`: where the key was found, who reported it and what
/// Keygate did. The payload never holds the secret.
fn render_exposed(payload: &Value, org_name: &str, to: &str, delivery_id: &str) -> Mail {
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let data = &payload["data"];
    let x = &data["exposure"];
    let kind = if data["key_kind"] == "admin" {
        "Admin"
    } else {
        "Scoped"
    };
    let key_name = s(&data["key_name"]);
    let revoked = x["action"] == "revoked";
    let subject = if revoked {
        format!("{kind} API key '{key_name}' was found leaked and revoked")
    } else {
        format!("{kind} API key '{key_name}' was found leaked")
    };
    let reporter = match x["reported_by"].as_str() {
        Some("github") => "GitHub secret scanning",
        Some("gitlab") => "GitLab secret detection",
        _ => "a secret scanner",
    };
    let mut place = x["location"].as_str().unwrap_or("not given").to_owned();
    if let Some(source) = x["source"].as_str().filter(|s| !s.is_empty()) {
        place.push_str(&format!(" ({source})"));
    }
    let when = s(&payload["created_at"])
        .replace('T', " ")
        .replace(".000Z", " UTC")
        .replace('Z', " UTC");
    let facts = [
        (
            "Key",
            format!("{key_name} (client ID {})", s(&data["client_id"])),
        ),
        (
            "Organization",
            format!("{org_name} ({})", s(&payload["org_id"])),
        ),
        ("Found at", place),
        ("Reported by", reporter.to_owned()),
        (
            "Done",
            if revoked {
                "the key was deleted: it no longer logs in".to_owned()
            } else if x["action"] == "previous_secret_revoked" {
                "the leaked secret was the one a regenerate replaced (still in its grace \
                 period): it was revoked at once; the key's current secret keeps working"
                    .to_owned()
            } else {
                "the key was marked exposed; it still works".to_owned()
            },
        ),
        ("When", when),
        ("Event", format!("{} (api_key.exposed)", s(&payload["id"]))),
    ];
    let (line, advice) = if revoked {
        (
            "Whatever used this key now fails to log in.",
            "Create a new key for it in Settings > Developer > API keys, remove the leaked \
             secret from where it was found (and from its history), and check the audit log \
             for what the key did before it was revoked.",
        )
    } else if x["action"] == "previous_secret_revoked" {
        (
            "Whatever still used the old secret now fails to log in; the new one works.",
            "Remove the leaked secret from where it was found (and from its history), and \
             check the audit log for what the key did while the old secret was alive.",
        )
    } else {
        (
            "Your organization is set to notify, not revoke: the key still works, and so \
             may anyone who found it.",
            "Regenerate this key now in Settings > Developer > API keys, put the new secret \
             where it is used, remove the leaked one from where it was found (and from its \
             history), and check the audit log for what the key did.",
        )
    };
    compose(payload, to, delivery_id, subject, &facts, line, advice)
}

/// `quota.threshold`: how much of the plan's daily or monthly quota the
/// organization used, and what happens at 100 %.
fn render_quota(payload: &Value, org_name: &str, to: &str, delivery_id: &str) -> Mail {
    let data = &payload["data"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let period = s(&data["period"]);
    let percent = data["percent"].as_i64().unwrap_or(0);
    let adjective = if period == "day" { "daily" } else { "monthly" };
    let subject = format!("{org_name} used {percent} % of its {adjective} quota");
    let facts = [
        (
            "Organization",
            format!("{org_name} ({})", s(&payload["org_id"])),
        ),
        (
            "Quota",
            format!(
                "{} requests per UTC {period}, from {}",
                data["requests"],
                s(&data["period_start"])
            ),
        ),
        ("Used", format!("{} ({percent} %)", data["used"])),
        ("Event", format!("{} (quota.threshold)", s(&payload["id"]))),
    ];
    let (line, advice) = if percent >= 100 {
        (
            "Token checks of this organization's keys are refused with 429 quota_exceeded \
             until the period ends.",
            "Ask your provider for a larger plan, or wait for the next period.",
        )
    } else {
        (
            "Token checks still work; at 100 % they are refused until the period ends.",
            "Check which keys use the most in Usage, or ask your provider for a larger plan.",
        )
    };
    compose(payload, to, delivery_id, subject, &facts, line, advice)
}

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Short lines keep the text part readable and free of soft line breaks.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

#[cfg(test)]
mod tests;
