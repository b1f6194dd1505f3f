//! Who did something (`Actor`), and the queue that writes the audit events
//! that change nothing else (failed logins) in the background, in batches,
//! off the hot path, and keeps them through a database outage.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use keygate_core::{ClientId, EventId, OrgId, UserId};
use keygate_store::{AuditEvent, Store};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::state::clock::now_ms;
use crate::state::metrics::{AuditDrop, AuditDrops};

/// Who did something, and from where.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub email: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Actor {
    pub fn event(
        &self,
        org_id: Option<&OrgId>,
        action: &str,
        client_id: Option<&ClientId>,
        details: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            seq: 0,
            event_id: EventId::generate(),
            org_id: org_id.cloned(),
            occurred_at: now_ms(),
            actor_user_id: self.user_id.clone(),
            actor_email: self.email.clone(),
            client_id: client_id.cloned(),
            action: action.to_owned(),
            source_ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            details,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }
}

/// Events waiting for the database, oldest first. Bounded by `capacity`
/// (`--audit-queue-capacity`), counting the batch being written: an event
/// leaves the queue only once the database has taken it. While the database
/// refuses writes, the writer keeps the batch and tries again with backoff;
/// only when the queue is full is a new event dropped, counted in
/// `keygate_audit_events_dropped_total` and in the log.
struct Queue {
    events: Mutex<VecDeque<AuditEvent>>,
    capacity: usize,
    dropped: AtomicU64,
    drops: AuditDrops,
    wake: Notify,
    /// Set by `close`: write what is queued, then stop.
    closing: Mutex<Option<Instant>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// Queue for events written later in batches, off the hot path (failed logins).
#[derive(Clone)]
pub struct AuditSink(Arc<Queue>);

/// Events written in one transaction.
const BATCH: usize = 500;
/// The first retry after a failed write; each next one waits twice as long,
/// up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl AuditSink {
    /// Starts the writer. `capacity`: the most events held while the
    /// database cannot take them.
    pub fn start(store: Arc<dyn Store>, capacity: usize, drops: AuditDrops) -> AuditSink {
        let queue = Arc::new(Queue {
            events: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            dropped: AtomicU64::new(0),
            drops,
            wake: Notify::new(),
            closing: Mutex::new(None),
            writer: Mutex::new(None),
        });
        let writer = tokio::spawn(write_loop(store, queue.clone()));
        *lock(&queue.writer) = Some(writer);
        AuditSink(queue)
    }

    pub fn send(&self, event: AuditEvent) {
        let q = &self.0;
        {
            let mut events = lock(&q.events);
            if events.len() < q.capacity {
                events.push_back(event);
                drop(events);
                q.wake.notify_one();
                return;
            }
        }
        q.drops.add(AuditDrop::QueueFull, 1);
        let total = q.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        // A flood of failed logins during an outage must not flood the log
        // too: the first drop, then every thousandth (the metric counts each).
        if total == 1 || total.is_multiple_of(1000) {
            tracing::error!(
                action = %event.action,
                capacity = q.capacity,
                dropped_total = total,
                "audit queue full (the database has not taken its events): audit events are being dropped"
            );
        }
    }

    /// At shutdown: writes what is queued, trying for at most `within` while
    /// the database refuses; what is still unwritten then is counted dropped.
    pub async fn close(&self, within: Duration) {
        *lock(&self.0.closing) = Some(Instant::now() + within);
        self.0.wake.notify_one();
        let writer = lock(&self.0.writer).take();
        if let Some(w) = writer {
            // A write hanging on an unreachable database does not hold the
            // stop up past the writer's own deadline and one more backoff.
            let _ = tokio::time::timeout(within + MAX_BACKOFF, w).await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn write_loop(store: Arc<dyn Store>, q: Arc<Queue>) {
    let mut backoff = MIN_BACKOFF;
    let mut failures = 0u32;
    loop {
        let batch: Vec<AuditEvent> = lock(&q.events).iter().take(BATCH).cloned().collect();
        let closing = *lock(&q.closing);
        if batch.is_empty() {
            if closing.is_some() {
                return;
            }
            q.wake.notified().await;
            continue;
        }
        match store.record_audit(&batch).await {
            Ok(()) => {
                // Only this task removes events, and senders only append:
                // the front is still this batch.
                lock(&q.events).drain(..batch.len());
                if failures > 0 {
                    tracing::info!(
                        events = batch.len(),
                        failures,
                        "audit events written after the database refused them"
                    );
                }
                (backoff, failures) = (MIN_BACKOFF, 0);
                if closing.is_none() {
                    // Lets a burst gather into the next batch.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Err(e) => {
                failures += 1;
                let queued = lock(&q.events).len();
                // Stopping: retry until the deadline, then give up counted.
                let wait = match closing {
                    Some(deadline) if Instant::now() >= deadline => {
                        let lost = lock(&q.events).drain(..).count();
                        q.drops.add(AuditDrop::Shutdown, lost as u64);
                        tracing::error!(error = %e, events = lost, "stopping: audit events the database still refuses were dropped");
                        return;
                    }
                    Some(deadline) => {
                        backoff.min(deadline.saturating_duration_since(Instant::now()))
                    }
                    None => backoff,
                };
                tracing::warn!(error = %e, events = batch.len(), queued, retry_in_ms = wait.as_millis() as u64, "could not write audit events; keeping them and trying again");
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
