//! Keeping this instance's credential cache in step with the others on the
//! same database.
//!
//! The store's change feed names each key or account that some instance
//! changed; this task re-reads just that row. After a lost feed connection it
//! re-reads everything, and it does so anyway every `--cache-reload-interval`
//! as a backstop. Each full re-read extends the cache's validity by
//! `--cache-max-stale`; when the database stays out of reach longer than that,
//! the hot path answers 503 instead of trusting what may have been revoked.
//!
//! Nothing here knows which database is behind the store: SQLite has no feed,
//! so this task never starts there.

use std::collections::HashSet;
use std::time::Duration;

use keygate_store::{Change, ChangeFeed};

use crate::app::{App, AppState};
use crate::clock::now_ms;
use crate::service::keys;

/// Notices handled in one go: a burst of changes to one key costs one re-read.
const BATCH: usize = 256;
/// How soon a failed full re-read is tried again.
const RETRY: Duration = Duration::from_secs(1);

pub fn follow(app: AppState, mut feed: ChangeFeed) {
    let every = app.settings.cache_reload_interval;
    app.cache.set_shared();
    confirm(&app);
    tokio::spawn(async move {
        let mut next_reload = tokio::time::Instant::now() + every;
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                n = feed.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        tracing::error!("the change feed ended; the cache is now only reloaded on a timer");
                        break;
                    }
                    let changes: HashSet<Change> = batch.drain(..).collect();
                    if changes.contains(&Change::Resync) {
                        next_reload = tokio::time::Instant::now();
                    } else {
                        apply(&app, changes).await;
                    }
                }
                () = tokio::time::sleep_until(next_reload) => {
                    next_reload = tokio::time::Instant::now() + reload(&app, every).await;
                }
            }
        }
        loop {
            let wait = reload(&app, every).await;
            tokio::time::sleep(wait).await;
        }
    });
}

async fn apply(app: &App, changes: HashSet<Change>) {
    for change in changes {
        match change {
            Change::Key(client_id) => keys::refresh(app, &client_id).await,
            Change::Account(account_id) => match app.store.account(&account_id).await {
                Ok(Some(a)) => app.cache.add_account(a.account_id, a.org_id),
                Ok(None) => {}
                // Logins learn accounts they do not know on first use.
                Err(e) => tracing::warn!(error = %e, %account_id, "could not read a new account"),
            },
            Change::Resync => {}
        }
    }
}

/// Re-reads the whole cache; returns when to do it next.
async fn reload(app: &App, every: Duration) -> Duration {
    match app.cache.reload(app.store.as_ref()).await {
        Ok(()) => {
            confirm(app);
            tracing::debug!("credential cache reloaded");
            every
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not reload the credential cache; retrying");
            RETRY
        }
    }
}

fn confirm(app: &App) {
    let max_stale = i64::try_from(app.settings.cache_max_stale.as_millis()).unwrap_or(i64::MAX);
    app.cache.valid_until(now_ms().saturating_add(max_stale));
}
