//! The handles of background tasks: their names, the stop signal each gets,
//! and `Tasks`, which holds them and stops them.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::state::clock;

/// The background tasks, by name (the `task` field of their log lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskName {
    /// Follows the change feed of the database (several instances).
    CacheSync,
    /// Sends the events of time passing (grace ended, expiry).
    Lifecycle,
    /// Writes the usage recorder to the store.
    UsageFlush,
    /// Removes usage past its retention; sends `*.unused`.
    UsageSweep,
    /// The outbox dispatcher: email and webhook deliveries.
    Notify,
    /// Drops per-key rate-limit windows that ended.
    RateLimitSweep,
    /// Settles per-key rate-limit counts with Redis.
    RateLimitSettle,
    /// Starts quota counters from the usage table; sends `quota.threshold`.
    Quotas,
    /// Settles keys' credits; sends `api_key.credits_exhausted`.
    Credits,
    /// Picks up `keygate keys rotate-signing-key` from the data dir.
    SigningKeysWatch,
    /// The `--metrics-listen` listener.
    MetricsListener,
}

impl TaskName {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskName::CacheSync => "cache_sync",
            TaskName::Lifecycle => "lifecycle",
            TaskName::UsageFlush => "usage_flush",
            TaskName::UsageSweep => "usage_sweep",
            TaskName::Notify => "notify",
            TaskName::RateLimitSweep => "rate_limit_sweep",
            TaskName::RateLimitSettle => "rate_limit_settle",
            TaskName::Quotas => "quotas",
            TaskName::Credits => "credits",
            TaskName::SigningKeysWatch => "signing_keys_watch",
            TaskName::MetricsListener => "metrics_listener",
        }
    }
}

/// A task's view of the stop signal.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Resolves once a stop is asked for (at once if it already was).
    pub async fn requested(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Sleeps for `d` unless a stop comes first (true). A test that moves the
    /// clock (`--test-clock`) shortens the wait by as much: the sleep ends
    /// once `d` has passed on the clock, never merely because it moved, so a
    /// task with an hour's interval does not run early when a test moves the
    /// clock by a second.
    pub async fn sleep(&self, d: Duration) -> bool {
        let deadline = clock::now_ms().saturating_add(d.as_millis().min(i64::MAX as u128) as i64);
        let mut wait = d;
        loop {
            tokio::select! {
                () = self.clone().requested() => return true,
                () = tokio::time::sleep(wait) => return false,
                () = clock::moved() => {
                    let left = deadline.saturating_sub(clock::now_ms());
                    if left <= 0 {
                        return false;
                    }
                    wait = Duration::from_millis(left as u64);
                }
            }
        }
    }
}

/// The running tasks and the sender of their stop signal.
pub struct Tasks {
    stop: watch::Sender<bool>,
    running: Vec<(TaskName, JoinHandle<()>)>,
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks {
            stop: watch::Sender::new(false),
            running: Vec::new(),
        }
    }
}

impl Tasks {
    pub fn stop_signal(&self) -> Stop {
        Stop(self.stop.subscribe())
    }

    /// Starts `task` with a stop signal of its own.
    pub fn spawn<F, Fut>(&mut self, name: TaskName, task: F)
    where
        F: FnOnce(Stop) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let span = tracing::info_span!("task", task = name.as_str());
        let handle = tokio::spawn(task(self.stop_signal()).instrument(span));
        self.running.push((name, handle));
    }

    /// Asks every task to stop and waits, at most `within` in all, for each to
    /// finish its unit of work. A task still running then is abandoned with a
    /// log line naming it.
    pub async fn shutdown(self, within: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + within;
        for (name, handle) in self.running {
            match tokio::time::timeout_at(deadline, handle).await {
                Ok(Ok(())) => tracing::debug!(task = name.as_str(), "task stopped"),
                Ok(Err(e)) => tracing::error!(task = name.as_str(), error = %e, "task failed"),
                Err(_) => tracing::warn!(task = name.as_str(), "task did not stop in time"),
            }
        }
    }
}
