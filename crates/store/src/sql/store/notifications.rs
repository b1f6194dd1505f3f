//! [`NotificationStore`] on the SQL layer: the inherent methods of the same
//! names in `notifications.rs` and `operator_webhooks.rs`.

use async_trait::async_trait;
use keygate_core::{DeliveryId, OrgId, WebhookId};

use crate::sql::{SqlStore, impl_for_sql_store};
use crate::{
    AttemptOutcome, AttemptRecord, AuditEvent, DeliveryQuery, DeliveryRecord, DueDelivery,
    NotificationStore, OperatorWebhookRecord, OutboxStats, Result, WebhookRecord,
};

impl_for_sql_store! {
    #[async_trait]
    impl NotificationStore for SqlStore {
        async fn create_webhook(&self, webhook: &WebhookRecord, audit: &AuditEvent) -> Result<()> {
            SqlStore::create_webhook(self, webhook, audit).await
        }

        async fn webhooks(&self, org_id: &OrgId) -> Result<Vec<WebhookRecord>> {
            SqlStore::webhooks(self, org_id).await
        }

        async fn update_webhook(&self, webhook: &WebhookRecord, audit: &AuditEvent) -> Result<()> {
            SqlStore::update_webhook(self, webhook, audit).await
        }

        async fn delete_webhook(
            &self,
            org_id: &OrgId,
            webhook_id: &WebhookId,
            audit: &AuditEvent,
        ) -> Result<()> {
            SqlStore::delete_webhook(self, org_id, webhook_id, audit).await
        }

        async fn create_operator_webhook(&self, webhook: &OperatorWebhookRecord) -> Result<()> {
            SqlStore::create_operator_webhook(self, webhook).await
        }

        async fn operator_webhooks(&self) -> Result<Vec<OperatorWebhookRecord>> {
            SqlStore::operator_webhooks(self).await
        }

        async fn delete_operator_webhook(&self, webhook_id: &WebhookId) -> Result<()> {
            SqlStore::delete_operator_webhook(self, webhook_id).await
        }

        async fn claim_due(
            &self,
            now: i64,
            limit: u32,
            lease_until: i64,
        ) -> Result<Vec<DueDelivery>> {
            SqlStore::claim_due(self, now, limit, lease_until).await
        }

        async fn record_attempt(
            &self,
            delivery_id: &DeliveryId,
            attempt: &AttemptRecord,
            outcome: AttemptOutcome,
        ) -> Result<()> {
            SqlStore::record_attempt(self, delivery_id, attempt, outcome).await
        }

        async fn deliveries(&self, query: &DeliveryQuery) -> Result<Vec<DeliveryRecord>> {
            SqlStore::deliveries(self, query).await
        }

        async fn redeliver(
            &self,
            org_id: &OrgId,
            delivery_id: &DeliveryId,
            now: i64,
            audit: &AuditEvent,
        ) -> Result<()> {
            SqlStore::redeliver(self, org_id, delivery_id, now, audit).await
        }

        async fn outbox_stats(&self) -> Result<Vec<OutboxStats>> {
            SqlStore::outbox_stats(self).await
        }
    }
}
