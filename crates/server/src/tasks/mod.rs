//! Background work: every loop that runs beside the surfaces, named, started
//! from [`start`] and stopped by [`Tasks::shutdown`].
//!
//! Each task gets a [`Stop`]. It checks it only between units of work (a usage
//! flush, a limits settle, a sweep round, a webhook delivery), never inside
//! one, so a stop never leaves a unit half done. `serve` stops the HTTP
//! listener first (no new calls are counted), then the tasks, then writes what
//! the recorder still holds.

pub mod credits;
pub mod handle;
pub mod lifecycle;
pub mod quotas;
pub mod signing_keys;
pub mod sync;
pub mod upkeep;

use std::path::PathBuf;

use keygate_store::ChangeFeed;

use crate::notify;
use crate::state::app::AppState;
use crate::state::rate_limits;

pub use handle::{Stop, TaskName, Tasks};

/// Starts every background task of `serve`. `feed` is the database's change
/// feed (PostgreSQL; `None` on SQLite); `signing_keys_dir` is the data dir
/// whose signing-keys file is watched, `None` when the keys come from the
/// environment. Quota counters start from the usage table before it returns.
pub async fn start(
    app: &AppState,
    tasks: &mut Tasks,
    feed: Option<ChangeFeed>,
    signing_keys_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let seeded = quotas::seed_all(app)
        .await
        .map_err(|e| anyhow::anyhow!("reading this period's usage for quotas: {e}"))?;
    if let Some(feed) = feed {
        sync::follow(app.clone(), feed, tasks);
    }
    let dispatcher = notify::Dispatcher::new(app.clone())?;
    tasks.spawn(TaskName::Notify, |stop| dispatcher.run(stop.requested()));
    upkeep::start(app, tasks);
    let limits = app.rate_limits.clone();
    tasks.spawn(TaskName::RateLimitSweep, |stop| {
        rate_limits::settle::sweep_until(limits, stop.requested())
    });
    if let Some(cfg) = app.settings.redis.clone() {
        let limits = app.rate_limits.clone();
        tasks.spawn(TaskName::RateLimitSettle, |stop| {
            rate_limits::settle::settle_until(limits, cfg, stop.requested())
        });
    }
    lifecycle::start(app, tasks);
    quotas::start(app, tasks, seeded);
    credits::start(app, tasks);
    if let Some(dir) = signing_keys_dir {
        let app = app.clone();
        tasks.spawn(TaskName::SigningKeysWatch, |stop| {
            signing_keys::watch(app, dir, stop)
        });
    }
    Ok(())
}
