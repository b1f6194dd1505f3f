//! Leaked-key intake (secret scanning): reports from GitHub's secret scanning
//! partner program and GitLab's token revocation API, and what a report of a
//! live key does (the organization's `on_leak` setting, kept with the key
//! policy in `service::key_policy`).
//!
//! A reported token is matched exactly as a login matches a key: its shape and
//! checksum first (a cheap refusal of anything that is not a Keygate key), then
//! the keyed digest of the whole secret, looked up among the keys' digests. The
//! secret itself is never stored, logged or sent on: the audit event, the mail
//! and the webhook say where it was found and what was done.

use keygate_core::crypto::sha256;
use keygate_core::leak::report_text;
use keygate_core::{ApiKey, OnLeak};
use keygate_store::KeyRecord;
use serde_json::json;

use crate::service::{Error, keys};
use crate::state::app::App;
use crate::state::audit::Actor;
use crate::state::clock::now_ms;

/// Who sent a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reporter {
    GitHub,
    GitLab,
}

impl Reporter {
    pub fn as_str(self) -> &'static str {
        match self {
            Reporter::GitHub => "github",
            Reporter::GitLab => "gitlab",
        }
    }
}

/// One leaked token as a reporter describes it.
pub struct Report {
    pub token: String,
    /// Where it was found (GitHub's `url`, GitLab's `location`).
    pub location: Option<String>,
    /// What kind of place (GitHub's `source`: `content`, `commit`, …).
    pub source: Option<String>,
}

/// Counts a report request from `ip` against the per-address limit (every
/// request counts, good or bad, before any signature is checked).
fn count_request(app: &App, ip: &str) -> Result<(), Error> {
    let limiter = &app.attempts.leak_report_ip;
    limiter
        .check(ip)
        .map_err(|retry_after_secs| Error::TooManyAttempts { retry_after_secs })?;
    limiter.fail(ip);
    Ok(())
}

/// `POST /secret-scanning/github`, before its body is read: off (NotFound)
/// without `--github-scanning-keys`; limited per address; Unauthorized unless
/// `signature` (base64 DER ECDSA P-256 / SHA-256) signs the raw `body` with
/// the GitHub key named `key_id`.
pub fn check_github(
    app: &App,
    ip: &str,
    key_id: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), Error> {
    let keys = app.github_keys.as_ref().ok_or(Error::NotFound)?;
    count_request(app, ip)?;
    match (key_id, signature) {
        (Some(k), Some(s)) if keys.verify(k, s, body) => Ok(()),
        _ => Err(Error::Unauthorized),
    }
}

/// The GitLab routes: off (NotFound) without `--gitlab-revocation-token`;
/// limited per address; Unauthorized unless `bearer` is that token (compared
/// in constant time over digests).
pub fn check_gitlab(app: &App, ip: &str, bearer: Option<&str>) -> Result<(), Error> {
    let token = app
        .settings
        .gitlab_revocation_token
        .as_deref()
        .ok_or(Error::NotFound)?;
    count_request(app, ip)?;
    match bearer {
        Some(b) if sha256(b.as_bytes()).ct_eq(&sha256(token.as_bytes())) => Ok(()),
        _ => Err(Error::Unauthorized),
    }
}

/// Acts on verified reports, in order; for each, whether it named a live
/// Keygate key (`true_positive`). Anything else (not a Keygate key, a bad
/// checksum, no such key, a key revoked or regenerated since) is `false`,
/// never an error. A key reported again changes nothing and sends nothing:
/// a revoked key is gone, a flagged one stays flagged until regenerated.
pub async fn intake(
    app: &App,
    reporter: Reporter,
    who: &Actor,
    reports: &[Report],
) -> Result<Vec<bool>, Error> {
    let mut out = Vec::with_capacity(reports.len());
    for r in reports {
        out.push(one(app, reporter, who, r).await?);
    }
    Ok(out)
}

async fn one(app: &App, reporter: Reporter, who: &Actor, r: &Report) -> Result<bool, Error> {
    let Ok(key) = ApiKey::parse(r.token.trim()) else {
        return Ok(false);
    };
    let digest = app.pepper.digest(key.expose().as_bytes());
    let Some(k) = app.store.key_by_secret_hash(&digest).await? else {
        return Ok(false);
    };
    let now = now_ms();
    if k.expires_at.is_some_and(|t| t <= now) {
        // An expired key logs in nowhere: not a live key.
        return Ok(false);
    }
    if !k.secret_hash.ct_eq(&digest) {
        return previous_secret_leaked(app, reporter, who, r, &k, &digest, now).await;
    }
    let on_leak = app.store.on_leak(&k.org_id).await?;
    if on_leak == OnLeak::Notify && k.exposed_at.is_some() {
        return Ok(true);
    }
    let event = who.event(
        Some(&k.org_id),
        "api_key.exposed",
        Some(&k.client_id),
        details(&k, reporter, r, on_leak),
    );
    let changed = match on_leak {
        OnLeak::Revoke => {
            app.store
                .revoke_exposed_key(&k.org_id, &k.client_id, &k.secret_hash, &event)
                .await?
        }
        OnLeak::Notify => {
            app.store
                .flag_exposed_key(&k.org_id, &k.client_id, &k.secret_hash, now, &event)
                .await?
        }
    };
    if !changed {
        // Revoked, regenerated or flagged by a report a moment earlier.
        return Ok(on_leak == OnLeak::Notify);
    }
    tracing::warn!(
        client_id = %k.client_id,
        reporter = reporter.as_str(),
        action = action(on_leak),
        "an API key was reported leaked"
    );
    match on_leak {
        OnLeak::Revoke => keys::refresh(app, &k.client_id).await,
        OnLeak::Notify => app.dispatcher.wake(),
    }
    Ok(true)
}

/// The secret a regenerate with a grace period replaced was reported: the
/// owner has rotated already, so whatever `on_leak` says, the old secret dies
/// now (its grace ends, with `api_key.exposed` in the same transaction) and
/// the key's current secret keeps working. A grace that has ended is no live
/// secret: `false_positive`.
async fn previous_secret_leaked(
    app: &App,
    reporter: Reporter,
    who: &Actor,
    r: &Report,
    k: &KeyRecord,
    digest: &keygate_core::crypto::Digest,
    now: i64,
) -> Result<bool, Error> {
    let Some(previous) = k
        .previous_secret
        .filter(|p| p.secret_hash.ct_eq(digest) && p.expires_at > now)
    else {
        return Ok(false);
    };
    let mut details = details(k, reporter, r, OnLeak::Revoke);
    details["exposure"]["action"] = PREVIOUS_SECRET_REVOKED.into();
    let event = who.event(
        Some(&k.org_id),
        "api_key.exposed",
        Some(&k.client_id),
        details,
    );
    let notice = keygate_store::KeyNotice::PreviousSecretExpired {
        at: previous.expires_at,
    };
    if app
        .store
        .claim_key_notice(&k.client_id, &notice, &event)
        .await?
    {
        tracing::warn!(
            client_id = %k.client_id,
            reporter = reporter.as_str(),
            action = PREVIOUS_SECRET_REVOKED,
            "an API key's previous secret was reported leaked"
        );
        keys::refresh(app, &k.client_id).await;
    }
    Ok(true)
}

/// `exposure.action` when the leaked secret was the one a grace period kept.
pub const PREVIOUS_SECRET_REVOKED: &str = "previous_secret_revoked";

fn action(on_leak: OnLeak) -> &'static str {
    match on_leak {
        OnLeak::Revoke => "revoked",
        OnLeak::Notify => "flagged",
    }
}

/// The audit details of `api_key.exposed`: the key, where it was found and
/// what was done. Never the secret.
fn details(k: &KeyRecord, reporter: Reporter, r: &Report, on_leak: OnLeak) -> serde_json::Value {
    json!({
        "name": k.name,
        "kind": k.kind.as_str(),
        "owner_id": k.owner_id,
        "exposure": {
            "reported_by": reporter.as_str(),
            "location": r.location.as_deref().map(report_text),
            "source": r.source.as_deref().map(report_text),
            "action": action(on_leak),
        },
    })
}
