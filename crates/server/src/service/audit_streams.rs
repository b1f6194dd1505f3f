//! Audit streams (owner/admin): an organization's hash chain sent on to an
//! HTTPS receiver as signed JSON lines or to a syslog collector over TCP. The
//! outbox dispatcher sends them (`notify::audit_stream`).

use keygate_core::crypto::random_base62;
use keygate_core::{AuditStreamId, OrgId};
use keygate_store::{AuditStreamRecord, StoreError};
use serde_json::json;

use crate::notify::audit_stream::{signing_secret, tcp_target};
use crate::notify::ssrf;
use crate::service::{Acting, Error, passwords};
use crate::state::app::App;
use crate::state::clock::now_ms;

/// Streams one organization may have.
const MAX_STREAMS: usize = 10;

/// A new stream, with the signing secret of a jsonl stream (shown once).
pub struct Created {
    pub stream: AuditStreamRecord,
    pub secret: Option<String>,
}

async fn check_target(app: &App, url: &str, format: &str) -> Result<String, Error> {
    let insecure = app.settings.notify.allow_insecure_webhooks;
    let url = url.trim();
    let target = match format {
        "jsonl" => ssrf::parse(url, insecure),
        "syslog" => tcp_target(url),
        _ => return Err(Error::invalid("format", "must be jsonl or syslog")),
    }
    .map_err(|m| Error::invalid("url", m))?;
    ssrf::resolve(&target, insecure)
        .await
        .map_err(|m| Error::invalid("url", m))?;
    Ok(url.to_owned())
}

/// Only the host goes into the audit log or the app: a URL can carry a token.
pub fn host_of(s: &AuditStreamRecord) -> String {
    let t = if s.format == "syslog" {
        tcp_target(&s.url)
    } else {
        ssrf::parse(&s.url, true)
    };
    t.map(|t| t.host).unwrap_or_default()
}

pub async fn create(
    app: &App,
    who: &Acting,
    url: Option<&str>,
    format: Option<&str>,
    password: Option<&str>,
) -> Result<Created, Error> {
    passwords::confirm(app, &who.user, password).await?;
    let org_id = &who.org_id;
    let format = format.ok_or_else(|| Error::invalid("format", "missing field `format`"))?;
    let url = url.ok_or_else(|| Error::invalid("url", "missing field `url`"))?;
    let url = check_target(app, url, format).await?;
    if app.store.audit_streams(org_id).await?.len() >= MAX_STREAMS {
        return Err(Error::Conflict(format!(
            "an organization can have at most {MAX_STREAMS} audit streams"
        )));
    }
    let now = now_ms();
    let stream = AuditStreamRecord {
        stream_id: AuditStreamId::generate(),
        org_id: org_id.clone(),
        url,
        format: format.to_owned(),
        secret_salt: random_base62(22),
        delivered_seq: 0,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now,
        head_seq: 0,
    };
    let event = who.actor.event(
        Some(org_id),
        "audit_stream.created",
        None,
        json!({"stream_id": stream.stream_id, "format": stream.format, "host": host_of(&stream)}),
    );
    app.store.create_audit_stream(&stream, &event).await?;
    app.dispatcher.wake();
    let secret = (stream.format == "jsonl").then(|| signing_secret(&app.pepper, &stream));
    Ok(Created { stream, secret })
}

/// The organization's streams, each with its organization's newest seq.
pub async fn list(app: &App, org_id: &OrgId) -> Result<Vec<AuditStreamRecord>, Error> {
    Ok(app.store.audit_streams(org_id).await?)
}

/// A stream of this organization, or 404 (also for other organizations').
pub async fn find(
    app: &App,
    org_id: &OrgId,
    stream_id: &AuditStreamId,
) -> Result<AuditStreamRecord, Error> {
    list(app, org_id)
        .await?
        .into_iter()
        .find(|s| &s.stream_id == stream_id)
        .ok_or(Error::NotFound)
}

pub async fn delete(
    app: &App,
    who: &Acting,
    stream_id: &AuditStreamId,
    password: Option<&str>,
) -> Result<(), Error> {
    let s = find(app, &who.org_id, stream_id).await?;
    passwords::confirm(app, &who.user, password).await?;
    let event = who.actor.event(
        Some(&who.org_id),
        "audit_stream.deleted",
        None,
        json!({"stream_id": s.stream_id, "format": s.format, "host": host_of(&s)}),
    );
    match app
        .store
        .delete_audit_stream(&who.org_id, stream_id, &event)
        .await
    {
        Err(StoreError::NotFound) => Err(Error::NotFound),
        other => Ok(other?),
    }
}
