//! Settings overview (with the organization's default rate limit, which
//! owners and admins set there) and the audit log.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse as _, Response};
use keygate_core::ClientId;
use keygate_core::time::format_rfc3339;
use keygate_store::AuditEvent;

use crate::service::Error;
use crate::service::{audit as audit_log, audit_streams, keys as key_service, orgs};
use crate::ui::Pages;
use crate::ui::extract::{
    AnyMember, FormBody, KeyManager, OrgManager, OrgMember, PageError, see_other,
};
use crate::ui::form_errors::FormErrors;
use crate::ui::layout::{Shell, render, render_status, when};
use crate::ui::rate_limit::{self, LimitFields};
use crate::ui::routes::audit_text::{self, Names};
use crate::ui::routes::check_form;

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub shell: Shell,
    pub accounts: usize,
    pub notice: Option<&'static str>,
    /// The organization's default rate limit in words, or "None".
    pub rate_limit: String,
    /// Its form (owners): the fields, and a wrong password.
    pub limit: crate::ui::rate_limit::LimitFields,
    pub errors: FormErrors,
}

pub struct AuditRow {
    pub when: String,
    pub action: String,
    pub client_id: String,
    pub ip: String,
    /// What happened, in a sentence.
    pub sentence: String,
    /// When, as RFC 3339 (app.js shows it in the reader's time zone).
    pub at: String,
    /// The details as (label, value).
    pub fields: Vec<(String, String)>,
}

pub struct KeyChoice {
    pub client_id: String,
    pub label: String,
    pub selected: bool,
}

/// An audit stream as the audit page lists it.
pub struct StreamRow {
    pub format: String,
    /// Only the host: a receiver's URL can carry a token.
    pub host: String,
    pub delivered_seq: i64,
    pub lag_seq: i64,
    pub last_error: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub shell: Shell,
    pub keys: Vec<KeyChoice>,
    pub filter: String,
    pub rows: Vec<AuditRow>,
    pub next: Option<String>,
    /// The actor (email) and event filters, as typed.
    pub actor: String,
    pub action: String,
    /// The JSON lines export of what is filtered.
    pub export: String,
    /// Whether the hash chain verifies, in a sentence.
    pub chain: String,
    pub streams: Vec<StreamRow>,
}

pub async fn settings(
    State(app): State<Pages>,
    m: OrgMember<AnyMember>,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let notice = (q.as_deref() == Some("done=rate-limit")).then_some("Default rate limit saved.");
    let current = orgs::rate_limit(&app, &m.org_id).await?;
    let mut page = settings_page(&app, &m, LimitFields::of(current)).await?;
    page.notice = notice;
    Ok(render(&page))
}

async fn settings_page<R>(
    app: &Pages,
    m: &OrgMember<R>,
    limit: LimitFields,
) -> Result<SettingsPage, PageError> {
    let shell = Shell::load(app, &m.current, &m.org_id, m.role, "settings").await?;
    let accounts = orgs::accounts(app, &m.org_id).await?.len();
    let rate_limit = orgs::rate_limit(app, &m.org_id)
        .await?
        .map_or_else(|| "None".to_owned(), rate_limit::words);
    Ok(SettingsPage {
        shell,
        accounts,
        notice: None,
        rate_limit,
        limit,
        errors: FormErrors::new(),
    })
}

/// Settings → Default rate limit (owner or admin, as `PATCH …/rate-limit`):
/// both fields empty clears it. An
/// error shows the settings again with what was typed; nothing is written.
pub async fn set_rate_limit(
    State(app): State<Pages>,
    m: OrgMember<OrgManager>,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    let mut fields = LimitFields::posted(
        form.get(rate_limit::REQUESTS),
        form.get(rate_limit::PER_SECONDS),
    );
    let change = fields.checked();
    let mut errors = FormErrors::new();
    errors.limit(&fields);
    errors.require(&form, "password", "Login password: enter it to confirm.");
    if let (Some(change), true) = (change, errors.is_empty()) {
        match orgs::set_rate_limit(&app, &m.acting(), change, form.get("password")).await {
            Ok(_) => {
                return Ok(see_other(&format!(
                    "/app/orgs/{}/settings?done=rate-limit",
                    m.org_id
                )));
            }
            Err(Error::Invalid { field, message }) => {
                fields.show_error(&field, &message);
                errors.limit(&fields);
            }
            Err(e) => errors.place(e, &[])?,
        }
    }
    let mut page = settings_page(&app, &m, fields).await?;
    page.errors = errors;
    Ok(render_status(page.errors.status(), &page))
}

const AUDIT_PAGE: u32 = 50;

/// Top-level details of an event in one line: `name: CI deploy · role: admin`.
fn param(q: &[(String, String)], name: &str) -> Option<String> {
    q.iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.clone())
}

pub async fn audit(
    State(app): State<Pages>,
    m: OrgMember<KeyManager>,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let q: Vec<(String, String)> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let filter = param(&q, "client_id").and_then(|c| ClientId::parse(&c).ok());
    let before = param(&q, "before").and_then(|b| b.parse::<i64>().ok());
    let narrow = audit_filter(&q, filter.clone());
    let shell = Shell::load(&app, &m.current, &m.org_id, m.role, "audit").await?;
    let keys = key_service::list(&app, &m.org_id).await?;
    let events = audit_log::filtered(&app, &m.org_id, &narrow, before, AUDIT_PAGE).await?;
    let chain = match audit_log::chain_status(&app, &m.org_id).await? {
        None => "The hash chain verifies: no events yet.".to_owned(),
        Some(c) => match c.broken {
            None => format!(
                "The hash chain verifies: {} events, each linked to the one before.",
                c.events
            ),
            Some(b) => format!(
                "The hash chain does not verify at seq {}: {}.",
                b.seq, b.reason
            ),
        },
    };
    let streams = audit_streams::list(&app, &m.org_id)
        .await?
        .iter()
        .map(|s| StreamRow {
            format: s.format.clone(),
            host: audit_streams::host_of(s),
            delivered_seq: s.delivered_seq,
            lag_seq: (s.head_seq - s.delivered_seq).max(0),
            last_error: s.last_error.clone().unwrap_or_default(),
        })
        .collect();
    let key_name = |e: &AuditEvent| {
        let id = e.client_id.as_ref()?;
        keys.iter()
            .find(|k| &k.client_id == id)
            .map(|k| k.name.clone())
            .or_else(|| e.details["name"].as_str().map(str::to_owned))
    };
    let accounts = orgs::accounts(&app, &m.org_id).await?;
    let org_id = m.org_id.to_string();
    let names = Names {
        org_id: &org_id,
        org_name: &shell.org_name,
        accounts: &accounts,
    };
    let rows = events
        .iter()
        .map(|e| {
            let key_name = key_name(e).unwrap_or_default();
            AuditRow {
                when: when(e.occurred_at),
                at: format_rfc3339(e.occurred_at),
                action: e.action.clone(),
                client_id: e
                    .client_id
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                sentence: audit_text::sentence(e, &key_name, &names),
                fields: audit_text::fields(e, &names),
                ip: e.source_ip.clone().unwrap_or_default(),
            }
        })
        .collect();
    let filter_s = filter.as_ref().map(ToString::to_string).unwrap_or_default();
    let actor = narrow.actor.clone().unwrap_or_default();
    let action = narrow.action.clone().unwrap_or_default();
    let query = serde_urlencoded::to_string([
        ("client_id", filter_s.as_str()),
        ("actor", actor.as_str()),
        ("action", action.as_str()),
    ])
    .unwrap_or_default();
    let next = (events.len() == AUDIT_PAGE as usize)
        .then(|| events.last().map(|e| e.seq))
        .flatten()
        .map(|seq| format!("{}/developer/audit-log?{query}&before={seq}", shell.base()));
    let export = format!("{}/developer/audit-log/export?{query}", shell.base());
    let choices = keys
        .iter()
        .map(|k| KeyChoice {
            client_id: k.client_id.to_string(),
            label: format!("{} ({})", k.name, k.client_id),
            selected: filter.as_ref() == Some(&k.client_id),
        })
        .collect();
    Ok(render(&AuditPage {
        shell,
        keys: choices,
        filter: filter_s,
        rows,
        next,
        actor,
        action,
        export,
        chain,
        streams,
    }))
}

fn audit_filter(q: &[(String, String)], client_id: Option<ClientId>) -> audit_log::Filter {
    audit_log::Filter {
        client_id,
        actor: param(q, "actor").map(|a| a.trim().to_owned()),
        action: param(q, "action").map(|a| a.trim().to_owned()),
    }
}

/// The filtered log as JSON lines, oldest first: each line the API's event
/// (the object its hash covers), for an archive or a SIEM import.
pub async fn audit_export(
    State(app): State<Pages>,
    m: OrgMember<KeyManager>,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let q: Vec<(String, String)> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let filter = param(&q, "client_id").and_then(|c| ClientId::parse(&c).ok());
    let events = audit_log::export(&app, &m.org_id, &audit_filter(&q, filter)).await?;
    let body: String = events
        .iter()
        .map(|e| format!("{}\n", e.document()))
        .collect();
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/x-ndjson; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"audit-{}.jsonl\"", m.org_id),
            ),
        ],
        body,
    )
        .into_response())
}
