//! Whether the credential cache may answer a login or a token check now.

use crate::service::Error;
use crate::state::app::App;
use crate::state::clock::now_ms;

/// The credential cache could not be confirmed against the database for too
/// long (see `--cache-max-stale`), or its change feed is not known to be
/// current: refuse rather than trust what may be revoked. Logged once in a
/// while by [`fresh`], not per request.
pub fn stale_cache() -> Error {
    Error::StaleCache
}

/// Whether the cache may answer a login or token check now: re-read within
/// `--cache-max-stale`, and with other instances on the database, its change
/// feed confirmed current by a recent heartbeat. The normal case is two atomic
/// loads, no lock and no query. After a pause (or while the listener is lost)
/// the request waits briefly for the feed to catch up with the notices queued
/// meanwhile; if it does not, the request is refused.
pub(super) async fn fresh(app: &App) -> bool {
    let now = now_ms();
    let feed = app.cache.feed();
    if !app.cache.is_valid(now) {
        feed.refused(now, "not re-read within --cache-max-stale");
        return false;
    }
    if feed.is_current(now) || feed.wait_current(now).await {
        return true;
    }
    feed.refused(now, "the change feed is not confirmed current");
    false
}
