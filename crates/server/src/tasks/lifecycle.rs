//! The key lifecycle sweeper: a background task that sends the events of
//! time passing, once each. It does not decide whether a key or a token works:
//! logins and token checks compare the key's expiry and its previous secret's
//! end of grace themselves, from the credential cache, so a key dies on time
//! whether or not the sweeper has run.
//!
//! Every `--lifecycle-interval` it asks the store for keys with a notice due:
//!
//! - a previous secret whose grace period ended: the secret is cleared and
//!   `*.previous_secret_expired` written;
//! - an expiry 7 days or 1 day away, or passed: `*.expiring` (with
//!   `expires_within_days`) or `*.expired`. A key whose expiry is already
//!   nearer than a warning gets only the most urgent notice that is due.
//!
//! Each notice is claimed with a conditional update in the same transaction as
//! its audit event and outbox rows, so with several instances (or after a
//! restart) it goes out exactly once.

use std::time::Duration;

use keygate_core::time::format_rfc3339;
use keygate_store::{EXPIRY_WARNINGS_MS, KeyNotice, KeyRecord};
use serde_json::json;

use crate::state::app::AppState;
use crate::state::audit::Actor;
use crate::state::clock::now_ms;
use crate::tasks::handle::{TaskName, Tasks};

/// Keys handled per round; a round with a full batch goes on at once.
const BATCH: u32 = 200;

pub fn start(app: &AppState, tasks: &mut Tasks) {
    let app = app.clone();
    tasks.spawn(TaskName::Lifecycle, |stop| async move {
        // Instances started together should not sweep in lockstep.
        let jitter = u64::from(keygate_core::crypto::random_bytes::<2>()[0]) * 4;
        if stop.sleep(Duration::from_millis(jitter)).await {
            return;
        }
        loop {
            let full = match sweep(&app).await {
                Ok(full) => full,
                Err(e) => {
                    tracing::warn!(error = %e, "key lifecycle sweep failed; retrying later");
                    false
                }
            };
            let pause = if full {
                Duration::ZERO
            } else {
                app.settings.lifecycle_interval
            };
            if stop.sleep(pause).await {
                return;
            }
        }
    });
}

/// One round; true when the batch was full (more may be due).
async fn sweep(app: &AppState) -> Result<bool, keygate_store::StoreError> {
    let now = now_ms();
    let due = app.store.due_key_notices(now, BATCH).await?;
    let full = due.len() as u32 >= BATCH;
    let mut sent = false;
    for (key, stage) in due {
        for notice in notices(&key, stage, now) {
            let event = event(&key, &notice);
            if app
                .store
                .claim_key_notice(&key.client_id, &notice, &event)
                .await?
            {
                sent = true;
                if matches!(notice, KeyNotice::PreviousSecretExpired { .. })
                    && let Err(e) = app.cache.refresh(app.store.as_ref(), &key.client_id).await
                {
                    // Harmless: the cache already refuses the secret by its time.
                    tracing::warn!(error = %e, client_id = %key.client_id, "cache refresh after a grace period failed");
                }
            }
        }
    }
    if sent {
        app.dispatcher.wake();
    }
    // A full batch of notices that were all claimed elsewhere would spin:
    // go on at once only when this round sent something.
    Ok(full && sent)
}

/// The notices due for one key at `now`, given its expiry notice stage.
fn notices(key: &KeyRecord, stage: u8, now: i64) -> Vec<KeyNotice> {
    let mut out = Vec::new();
    if let Some(p) = key.previous_secret.filter(|p| p.expires_at <= now) {
        out.push(KeyNotice::PreviousSecretExpired { at: p.expires_at });
    }
    if let Some(expires_at) = key.expires_at {
        let due = if expires_at <= now {
            3
        } else if expires_at - now <= EXPIRY_WARNINGS_MS[1] {
            2
        } else if expires_at - now <= EXPIRY_WARNINGS_MS[0] {
            1
        } else {
            0
        };
        if due > stage {
            out.push(KeyNotice::Expiry {
                from: stage,
                to: due,
                expires_at,
            });
        }
    }
    out
}

/// The audit event of a notice: no actor (Keygate itself), the key's name,
/// owner and scope as the other key events have them.
fn event(key: &KeyRecord, notice: &KeyNotice) -> keygate_store::AuditEvent {
    let kind = key.kind.as_str();
    let mut details = json!({"name": key.name, "owner_id": key.owner_id, "scope": key.scope});
    let action = match *notice {
        KeyNotice::PreviousSecretExpired { at } => {
            details["previous_secret_expired_at"] = format_rfc3339(at).into();
            "previous_secret_expired"
        }
        KeyNotice::Expiry { to, expires_at, .. } => {
            details["expires_at"] = format_rfc3339(expires_at).into();
            if to >= 3 {
                "expired"
            } else {
                details["expires_within_days"] = json!(if to == 2 { 1 } else { 7 });
                "expiring"
            }
        }
    };
    Actor::default().event(
        Some(&key.org_id),
        &format!("{kind}_key.{action}"),
        Some(&key.client_id),
        details,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_most_urgent_due_notice_is_sent() {
        let key = |expires_at: Option<i64>| KeyRecord {
            client_id: keygate_core::ClientId::generate(),
            org_id: keygate_core::OrgId::generate(),
            kind: keygate_store::KeyKind::Scoped,
            owner_id: None,
            name: "k".into(),
            secret_hash: keygate_core::crypto::sha256(b"x"),
            generation: 1,
            scope: keygate_core::permission::KeyScope::OrgAdmin,
            expires_at,
            previous_secret: None,
            rate_limit: None,
            exposed_at: None,
            credits: None,
            allowed_networks: Default::default(),
            require_dpop: false,
            federation: Default::default(),
            created_at: 0,
            updated_at: 0,
        };
        let day = 86_400_000;
        let now = 100 * day;
        assert!(notices(&key(None), 0, now).is_empty());
        assert!(notices(&key(Some(now + 8 * day)), 0, now).is_empty());
        let to = |v: Vec<KeyNotice>| match v.as_slice() {
            [KeyNotice::Expiry { to, .. }] => *to,
            _ => 0,
        };
        assert_eq!(to(notices(&key(Some(now + 3 * day)), 0, now)), 1);
        assert!(notices(&key(Some(now + 3 * day)), 1, now).is_empty());
        assert_eq!(to(notices(&key(Some(now + 1000)), 0, now)), 2);
        assert_eq!(to(notices(&key(Some(now + 1000)), 1, now)), 2);
        assert_eq!(to(notices(&key(Some(now)), 2, now)), 3);
        assert!(notices(&key(Some(now)), 3, now).is_empty());
    }
}
