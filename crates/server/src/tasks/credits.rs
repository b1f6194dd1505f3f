//! Keys' credits beside the hot path: every [`EVERY`] what this instance
//! used (`state::credits`) is settled into the database in one transaction,
//! and, with several instances (a shared database), what the others settled
//! is read back. Then each key noted as run out gets `api_key.credits_exhausted`,
//! claimed in the store with a conditional update in the transaction that
//! writes its audit event and outbox rows, so several instances and restarts
//! send it once per setting and refill period. The last settle runs when the
//! task stops.

use std::time::Duration;

use keygate_core::time::format_rfc3339;
use keygate_store::StoreError;
use serde_json::json;

use crate::state::app::{App, AppState};
use crate::state::audit::Actor;
use crate::state::clock::now_ms;
use crate::tasks::handle::{TaskName, Tasks};

/// How often credits are settled (reads of a key lag by at most this).
pub const EVERY: Duration = Duration::from_secs(1);

pub fn start(app: &AppState, tasks: &mut Tasks) {
    let app = app.clone();
    tasks.spawn(TaskName::Credits, |stop| async move {
        loop {
            let stopping = stop.sleep(EVERY).await;
            if let Err(e) = round(&app).await {
                tracing::warn!(error = %e, "credits settle failed; retrying later");
            }
            if stopping {
                return;
            }
        }
    });
}

/// One settle, then the events of keys that ran out.
pub async fn round(app: &App) -> Result<(), StoreError> {
    let now = now_ms();
    let sent = app.credits.to_settle(now);
    let mut settled = if sent.is_empty() {
        Vec::new()
    } else {
        match app.store.settle_credits(&sent).await {
            Ok(s) => s,
            Err(e) => {
                app.credits.unsent(&sent);
                return Err(e);
            }
        }
    };
    if app.cache.is_shared() {
        settled = app.store.key_credits().await?;
    }
    app.credits.settled(&sent, &settled);
    let mut woke = false;
    for x in app.credits.take_exhausted() {
        let Some(key) = app.store.key_by_client_id(&x.client_id).await? else {
            continue;
        };
        let Some(credits) = key.credits else {
            continue;
        };
        let event = Actor::default().event(
            Some(&key.org_id),
            "api_key.credits_exhausted",
            Some(&key.client_id),
            json!({
                "name": key.name,
                "kind": key.kind.as_str(),
                "credits": {
                    "remaining": 0,
                    "refill": credits.refill.map(|r| json!({"amount": r.amount, "period": r.period.as_str()})),
                },
                "refills_at": x.refills_at.map(format_rfc3339),
            }),
        );
        woke |= app
            .store
            .claim_credits_exhausted(&key.client_id, x.mark, &event)
            .await?;
    }
    if woke {
        app.dispatcher.wake();
    }
    Ok(())
}
