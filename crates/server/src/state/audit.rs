//! Who did something (`Actor`), and the queue that writes the audit events
//! that change nothing else (failed logins) in the background, in batches,
//! off the hot path.

use std::sync::Arc;
use std::time::Duration;

use keygate_core::{ClientId, EventId, OrgId, UserId};
use keygate_store::{AuditEvent, Store};
use tokio::sync::mpsc;

use crate::state::clock::now_ms;

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
        }
    }
}

/// Queue for events written later in batches. Bounded: under a flood of failed
/// logins, events beyond the queue are counted in the log and dropped rather
/// than slowing every request down.
#[derive(Clone)]
pub struct AuditSink(mpsc::Sender<AuditEvent>);

impl AuditSink {
    pub fn start(store: Arc<dyn Store>) -> AuditSink {
        let (tx, mut rx) = mpsc::channel::<AuditEvent>(10_000);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(500);
            while rx.recv_many(&mut batch, 500).await > 0 {
                if let Err(e) = store.record_audit(&batch).await {
                    tracing::error!(error = %e, events = batch.len(), "could not write audit events");
                }
                batch.clear();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        AuditSink(tx)
    }

    pub fn send(&self, event: AuditEvent) {
        if self.0.try_send(event).is_err() {
            tracing::warn!("audit queue full: a failed-login event was dropped");
        }
    }
}
