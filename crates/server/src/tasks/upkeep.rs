//! Background upkeep of usage: writes the in-memory usage recorder to the store
//! every `--usage-flush-interval` (and once more at shutdown, see `cmd/serve.rs`),
//! removes usage past its retention (minutes after 30 days, days after 13
//! months), and sends `*.unused` for keys idle for `--unused-key-days`.
//!
//! Every instance runs all of it: flushes add up, pruning is idempotent, and
//! the `*.unused` notice is claimed with a conditional update in the store, so
//! of several instances exactly one sends it.

use std::time::Duration;

use keygate_core::time::format_rfc3339;
use keygate_store::{KeyKind, UnusedKey};

use crate::state::app::{App, AppState};
use crate::state::audit::Actor;
use crate::state::clock::now_ms;
use crate::tasks::handle::{TaskName, Tasks};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Minute rows are kept this long.
pub const MINUTE_RETENTION_MS: i64 = 30 * DAY_MS;
/// Day rows are kept this long (13 months).
pub const DAY_RETENTION_MS: i64 = 396 * DAY_MS;
/// How often retention and the unused-key sweep run (also once at start).
const SWEEP_EVERY: Duration = Duration::from_secs(10 * 60);
const SWEEP_BATCH: u32 = 200;

pub fn start(app: &AppState, tasks: &mut Tasks) {
    let flusher = app.clone();
    tasks.spawn(TaskName::UsageFlush, |stop| async move {
        let every = flusher.settings.usage_flush_interval;
        // The last flush is `serve`'s, after the listener and every task stopped.
        while !stop.sleep(every).await {
            flush(&flusher).await;
        }
    });
    let app = app.clone();
    tasks.spawn(TaskName::UsageSweep, |stop| async move {
        // Shortly after start, so a restarted instance catches up at once.
        let mut pause = Duration::from_secs(1);
        while !stop.sleep(pause).await {
            sweep(&app).await;
            pause = SWEEP_EVERY;
        }
    });
}

/// Writes what the recorder counted since the last flush; on failure the
/// counts go back into the recorder for the next try.
pub async fn flush(app: &App) {
    let batch = app.usage.take();
    if batch.is_empty() {
        return;
    }
    if let Err(e) = app.store.record_usage(&batch).await {
        tracing::warn!(error = %e, "could not write usage; kept for the next flush");
        app.usage.restore(batch);
    }
}

async fn sweep(app: &App) {
    let now = now_ms();
    match app
        .store
        .prune_usage(now - MINUTE_RETENTION_MS, now - DAY_RETENTION_MS)
        .await
    {
        Ok(n) if n > 0 => tracing::info!(rows = n, "usage past its retention removed"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not prune usage"),
    }
    if let Err(e) = notify_unused(app, now).await {
        tracing::warn!(error = %e, "could not look for unused keys");
    }
}

/// Claims and sends `*.unused` for every key idle since before the cut-off.
async fn notify_unused(app: &App, now: i64) -> Result<(), keygate_store::StoreError> {
    let days = app.settings.unused_key_days;
    let idle_before = now - i64::from(days) * DAY_MS;
    let mut notified = 0;
    loop {
        let keys = app.store.unused_keys(now, idle_before, SWEEP_BATCH).await?;
        let mut claimed = 0;
        for key in &keys {
            if app
                .store
                .claim_unused(key, idle_before, &unused_event(key, days))
                .await?
            {
                claimed += 1;
            }
        }
        if claimed > 0 {
            app.dispatcher.wake();
        }
        notified += claimed;
        // Lost claims leave rows the next query would return again.
        if keys.len() < SWEEP_BATCH as usize || claimed == 0 {
            tracing::info!(notified, days, "checked for unused keys");
            return Ok(());
        }
    }
}

fn unused_event(key: &UnusedKey, days: u32) -> keygate_store::AuditEvent {
    let action = match key.kind {
        KeyKind::Admin => "admin_key.unused",
        KeyKind::Scoped => "scoped_key.unused",
    };
    Actor::default().event(
        Some(&key.org_id),
        action,
        Some(&key.client_id),
        serde_json::json!({
            "name": key.name,
            "owner_id": key.owner_id,
            "last_used_at": key.last_used_at.map(format_rfc3339),
            "unused_days": days,
        }),
    )
}
