//! Readiness: whether this instance should get traffic now. Unlike the token
//! checks it never waits for the change feed: a load balancer asks often and
//! wants an answer at once.

use std::time::Duration;

use crate::state::app::App;
use crate::state::clock::now_ms;
use crate::state::metrics::Observed;

/// The store must answer its cheap read within this.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// `Ok` when the store answers and the credential cache may be trusted (read
/// within `--cache-max-stale` and, with several instances on PostgreSQL, the
/// change feed confirmed current); else the reason, safe to show.
pub async fn ready(app: &App) -> Result<(), &'static str> {
    // The same small read `serve --demo` uses to see whether the database is empty.
    match tokio::time::timeout(STORE_TIMEOUT, app.store.is_empty()).await {
        Ok(Ok(_)) => {}
        Ok(Err(_)) | Err(_) => return Err("the database does not answer"),
    }
    let now = now_ms();
    if !app.cache.is_valid(now) {
        return Err("the credential cache was not re-read within --cache-max-stale");
    }
    if !app.cache.feed().is_current(now) {
        return Err("the change feed is not confirmed current");
    }
    Ok(())
}

/// The Prometheus exposition of `--metrics-listen`: the counters, and the
/// cache, outbox and pool gauges read now (the outbox query within
/// [`STORE_TIMEOUT`], else `keygate_store_up 0`).
pub async fn metrics_text(app: &App) -> String {
    let outbox = match tokio::time::timeout(STORE_TIMEOUT, app.store.outbox_stats()).await {
        Ok(Ok(stats)) => Some(stats),
        Ok(Err(_)) | Err(_) => None,
    };
    let now = now_ms();
    let as_of = app.cache.feed().current_as_of();
    app.metrics.render(&Observed {
        now_ms: now,
        cache_keys: app.cache.key_count(),
        cache_loaded_at: app.cache.loaded_at(),
        feed_as_of: (as_of != i64::MAX).then_some(as_of),
        cache_trusted: app.cache.is_valid(now) && app.cache.feed().is_current(now),
        outbox,
        pools: app.store.pool_stats(),
    })
}
