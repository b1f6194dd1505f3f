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
//! The feed also carries heartbeats ([`Change::CurrentAsOf`]): once the
//! changes before a beat are in the cache, the cache's feed clock moves to the
//! beat's time. The hot path refuses to answer from a cache whose feed clock
//! is too old (a paused process, a lost listener); see `state/cache.rs`.
//!
//! Nothing here knows which database is behind the store: SQLite has no feed,
//! so this task never starts there, and its cache counts as always current.

use std::collections::HashSet;
use std::time::Duration;

use keygate_store::{Change, ChangeFeed};

use crate::service::keys;
use crate::state::app::{App, AppState};
use crate::state::clock::now_ms;
use crate::tasks::handle::{TaskName, Tasks};

/// Notices handled in one go: a burst of changes to one key costs one re-read.
const BATCH: usize = 256;
/// How soon a failed full re-read is tried again.
const RETRY: Duration = Duration::from_secs(1);

pub fn follow(app: AppState, mut feed: ChangeFeed, tasks: &mut Tasks) {
    let every = app.settings.cache_reload_interval;
    app.cache.set_shared();
    app.cache.feed().follow_feed();
    confirm(&app);
    tasks.spawn(TaskName::CacheSync, |stop| async move {
        let stopped = stop.clone().requested();
        tokio::pin!(stopped);
        let mut next_reload = tokio::time::Instant::now() + every;
        let mut batch = Vec::with_capacity(BATCH);
        // Set after a lost feed connection until a full re-read succeeds: no
        // heartbeat may vouch for a cache that missed notices.
        let mut behind = false;
        loop {
            tokio::select! {
                () = &mut stopped => return,
                n = feed.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        tracing::error!("the change feed ended; the cache is now only reloaded on a timer");
                        break;
                    }
                    let changes: HashSet<Change> = batch.drain(..).collect();
                    if changes.contains(&Change::Resync) {
                        behind = true;
                    } else {
                        apply(&app, &changes).await;
                    }
                    if behind {
                        behind = !reload(&app).await;
                        next_reload = tokio::time::Instant::now() + wait(!behind, every);
                    }
                    // The beats came after every change of this batch, which
                    // are now in the cache: the feed is current as of them.
                    if !behind && let Some(at) = changes.iter().filter_map(current_as_of).max() {
                        app.cache.feed().confirm(at);
                    }
                }
                () = tokio::time::sleep_until(next_reload) => {
                    let done = reload(&app).await;
                    behind &= !done;
                    next_reload = tokio::time::Instant::now() + wait(done, every);
                }
            }
        }
        loop {
            let done = reload(&app).await;
            if stop.sleep(wait(done, every)).await {
                return;
            }
        }
    });
}

fn current_as_of(change: &Change) -> Option<i64> {
    match change {
        Change::CurrentAsOf(at) => Some(*at),
        _ => None,
    }
}

async fn apply(app: &App, changes: &HashSet<Change>) {
    for change in changes {
        match change {
            Change::Key(client_id) => keys::refresh(app, client_id).await,
            Change::Account(account_id) => match app.store.account(account_id).await {
                Ok(Some(a)) => app.cache.add_account(a.account_id, a.org_id),
                Ok(None) => {}
                // Logins learn accounts they do not know on first use.
                Err(e) => tracing::warn!(error = %e, %account_id, "could not read a new account"),
            },
            Change::Org(org_id) => {
                if let Err(e) = app.cache.refresh_org(app.store.as_ref(), org_id).await {
                    tracing::warn!(error = %e, %org_id, "could not re-read an organization's rate limit and suspension");
                }
            }
            Change::Resync | Change::CurrentAsOf(_) => {}
        }
    }
}

/// Re-reads the whole cache; false if it could not.
async fn reload(app: &App) -> bool {
    match app.cache.reload(app.store.as_ref()).await {
        Ok(()) => {
            confirm(app);
            tracing::debug!("credential cache reloaded");
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not reload the credential cache; retrying");
            false
        }
    }
}

/// When to re-read everything next.
fn wait(done: bool, every: Duration) -> Duration {
    if done { every } else { RETRY }
}

fn confirm(app: &App) {
    let max_stale = i64::try_from(app.settings.cache_max_stale.as_millis()).unwrap_or(i64::MAX);
    app.cache.valid_until(now_ms().saturating_add(max_stale));
}
