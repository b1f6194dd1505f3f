//! The audit log: events written on their own, an organization's hash
//! chain read and verified, and audit streams.

use async_trait::async_trait;
use keygate_core::{AuditStreamId, OrgId};

use crate::{AuditEvent, AuditQuery, AuditStreamRecord, ChainCheck, Result, UserMail};

/// The audit log and its streams. An event that comes with a change is
/// written by the change's own method, in its transaction.
///
/// One area of [`Store`](crate::Store), implemented for `SqlStore` in
/// `sql/store/audit.rs`.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Events that change nothing else (failed logins), written in one batch.
    async fn record_audit(&self, events: &[AuditEvent]) -> Result<()>;

    /// Events and mails to single people (`UserMail`) that change nothing else
    /// (a notice that a recovery code was used), in one transaction. A change
    /// that mails writes its mails in its own store call instead
    /// (`SqlStore::commit_with_mail`).
    async fn record_audit_with_mail(&self, events: &[AuditEvent], mails: &[UserMail])
    -> Result<()>;

    /// One organization's events: newest first below `before`, or oldest
    /// first above `after` (seqs of its chain).
    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>>;

    /// Recomputes the hash chain of `org`, or of every organization with
    /// events, from the database (reads only).
    async fn verify_audit_chain(&self, org: Option<&OrgId>) -> Result<Vec<ChainCheck>>;

    // Audit streams (their events are the chain, read with `after`).

    /// A new stream at `delivered_seq` 0, with `audit`.
    async fn create_audit_stream(
        &self,
        stream: &AuditStreamRecord,
        audit: &AuditEvent,
    ) -> Result<()>;

    async fn audit_streams(&self, org_id: &OrgId) -> Result<Vec<AuditStreamRecord>>;

    /// `NotFound` when the organization has no such stream.
    async fn delete_audit_stream(
        &self,
        org_id: &OrgId,
        stream_id: &AuditStreamId,
        audit: &AuditEvent,
    ) -> Result<()>;

    /// Leases the streams that lag and are due, until `lease_until`.
    async fn claim_audit_streams(
        &self,
        now: i64,
        limit: u32,
        lease_until: i64,
    ) -> Result<Vec<AuditStreamRecord>>;

    /// Moves a leased stream from `from_seq` on to `to_seq` and ends its
    /// lease; false when it was no longer at `from_seq`.
    async fn audit_stream_sent(
        &self,
        stream_id: &AuditStreamId,
        from_seq: i64,
        to_seq: i64,
        now: i64,
    ) -> Result<bool>;

    /// Records a failed attempt and when to try again; ends the lease.
    async fn audit_stream_failed(
        &self,
        stream_id: &AuditStreamId,
        error: &str,
        next_attempt_at: i64,
        now: i64,
    ) -> Result<()>;
}
