//! [`AuditStore`] on the SQL layer: the inherent methods of the same names in
//! `audit.rs` and `audit_streams.rs`.

use async_trait::async_trait;
use keygate_core::{AuditStreamId, OrgId};

use crate::sql::{SqlStore, impl_for_sql_store};
use crate::{AuditEvent, AuditQuery, AuditStore, AuditStreamRecord, ChainCheck, Result, UserMail};

impl_for_sql_store! {
    #[async_trait]
    impl AuditStore for SqlStore {
        async fn record_audit(&self, events: &[AuditEvent]) -> Result<()> {
            SqlStore::record_audit(self, events).await
        }

        async fn record_audit_with_mail(
            &self,
            events: &[AuditEvent],
            mails: &[UserMail],
        ) -> Result<()> {
            SqlStore::record_audit_with_mail(self, events, mails).await
        }

        async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
            SqlStore::audit_events(self, query).await
        }

        async fn verify_audit_chain(&self, org: Option<&OrgId>) -> Result<Vec<ChainCheck>> {
            SqlStore::verify_audit_chain(self, org).await
        }

        async fn create_audit_stream(
            &self,
            stream: &AuditStreamRecord,
            audit: &AuditEvent,
        ) -> Result<()> {
            SqlStore::create_audit_stream(self, stream, audit).await
        }

        async fn audit_streams(&self, org_id: &OrgId) -> Result<Vec<AuditStreamRecord>> {
            SqlStore::audit_streams(self, org_id).await
        }

        async fn delete_audit_stream(
            &self,
            org_id: &OrgId,
            stream_id: &AuditStreamId,
            audit: &AuditEvent,
        ) -> Result<()> {
            SqlStore::delete_audit_stream(self, org_id, stream_id, audit).await
        }

        async fn claim_audit_streams(
            &self,
            now: i64,
            limit: u32,
            lease_until: i64,
        ) -> Result<Vec<AuditStreamRecord>> {
            SqlStore::claim_audit_streams(self, now, limit, lease_until).await
        }

        async fn audit_stream_sent(
            &self,
            stream_id: &AuditStreamId,
            from_seq: i64,
            to_seq: i64,
            now: i64,
        ) -> Result<bool> {
            SqlStore::audit_stream_sent(self, stream_id, from_seq, to_seq, now).await
        }

        async fn audit_stream_failed(
            &self,
            stream_id: &AuditStreamId,
            error: &str,
            next_attempt_at: i64,
            now: i64,
        ) -> Result<()> {
            SqlStore::audit_stream_failed(self, stream_id, error, next_attempt_at, now).await
        }
    }
}
