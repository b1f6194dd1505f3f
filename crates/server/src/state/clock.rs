//! The wall clock, in milliseconds since the Unix epoch: the one place the
//! server reads it (`clippy.toml` disallows `SystemTime::now` elsewhere), so
//! core stays free of clocks and tests can move it.
//!
//! Time is a parameter: a server started with the hidden `--test-clock` flag
//! takes `POST /_test/clock {"advance_ms": N}` (see `cmd/test_clock.rs`), which
//! moves this clock forward. Background tasks waiting in `Stop::sleep` look at
//! each move and go on once their wait has passed, so a test that needs an hour
//! to pass moves the clock an hour and
//! sees the sweep's result at once, without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::Notify;

/// How far tests moved the clock (0 in production). Read on every call; a
/// relaxed load of a word nobody writes is as cheap as reading a constant.
static OFFSET_MS: AtomicI64 = AtomicI64::new(0);
static MOVED: Notify = Notify::const_new();

pub fn now_ms() -> i64 {
    system_ms() + OFFSET_MS.load(Ordering::Relaxed)
}

#[allow(clippy::disallowed_methods)]
fn system_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Moves the clock forward by `ms` and wakes the tasks that wait for time to
/// pass. Only `--test-clock` reaches this.
pub fn advance(ms: i64) {
    OFFSET_MS.fetch_add(ms.max(0), Ordering::Relaxed);
    MOVED.notify_waiters();
}

/// Resolves at the next move of the clock (never, in production).
pub async fn moved() {
    MOVED.notified().await;
}
