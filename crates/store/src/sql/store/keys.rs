//! [`KeyStore`] on the SQL layer: the inherent methods of the same names in
//! `keys.rs`, `policies.rs`, `leaks.rs` and `credits.rs`, and the database's
//! own `Sql::each_key_credential`.

use async_trait::async_trait;
use keygate_core::crypto::Digest;
use keygate_core::network::Networks;
use keygate_core::policy::KeyPolicy;
use keygate_core::{ClientId, OnLeak, OrgId, RateLimit};

use crate::sql::{SqlStore, impl_for_sql_store};
use crate::{
    AuditEvent, CreditsUse, KeyCredential, KeyEdit, KeyNotice, KeyRecord, KeyStore, Result,
    Rotation, SettledCredits,
};

impl_for_sql_store! {
    #[async_trait]
    impl KeyStore for SqlStore {
        async fn keys(&self, org_id: &OrgId) -> Result<Vec<KeyRecord>> {
            SqlStore::keys(self, org_id).await
        }

        async fn key(&self, org_id: &OrgId, client_id: &ClientId) -> Result<Option<KeyRecord>> {
            SqlStore::key(self, org_id, client_id).await
        }

        async fn key_by_client_id(&self, client_id: &ClientId) -> Result<Option<KeyRecord>> {
            SqlStore::key_by_client_id(self, client_id).await
        }

        async fn all_keys(&self) -> Result<Vec<KeyRecord>> {
            SqlStore::all_keys(self).await
        }

        async fn each_key_credential(
            &self,
            f: &mut (dyn FnMut(KeyCredential) + Send),
        ) -> Result<()> {
            DB::each_key_credential(self, f).await
        }

        async fn insert_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()> {
            SqlStore::insert_key(self, key, audit).await
        }

        async fn insert_keys(&self, keys: &[KeyRecord], audit: &AuditEvent) -> Result<()> {
            SqlStore::insert_keys(self, keys, audit).await
        }

        async fn regenerate_key(
            &self,
            org_id: &OrgId,
            client_id: &ClientId,
            rotation: &Rotation,
            allowed_networks: Option<&Networks>,
            now: i64,
            audit: &AuditEvent,
        ) -> Result<KeyRecord> {
            SqlStore::regenerate_key(
                self,
                org_id,
                client_id,
                rotation,
                allowed_networks,
                now,
                audit,
            )
            .await
        }

        async fn update_key(
            &self,
            org_id: &OrgId,
            client_id: &ClientId,
            edit: &KeyEdit<'_>,
            now: i64,
            audit: &AuditEvent,
        ) -> Result<KeyRecord> {
            SqlStore::update_key(self, org_id, client_id, edit, now, audit).await
        }

        async fn set_key_rate_limit(
            &self,
            org_id: &OrgId,
            client_id: &ClientId,
            rate_limit: Option<RateLimit>,
            now: i64,
            audit: &AuditEvent,
        ) -> Result<KeyRecord> {
            SqlStore::set_key_rate_limit(self, org_id, client_id, rate_limit, now, audit).await
        }

        async fn org_rate_limit(&self, org_id: &OrgId) -> Result<Option<RateLimit>> {
            SqlStore::org_rate_limit(self, org_id).await
        }

        async fn org_rate_limits(&self) -> Result<Vec<(OrgId, RateLimit)>> {
            SqlStore::org_rate_limits(self).await
        }

        async fn set_org_rate_limit(
            &self,
            org_id: &OrgId,
            rate_limit: Option<RateLimit>,
            audit: &AuditEvent,
        ) -> Result<()> {
            SqlStore::set_org_rate_limit(self, org_id, rate_limit, audit).await
        }

        async fn delete_key(
            &self,
            org_id: &OrgId,
            client_id: &ClientId,
            audit: &AuditEvent,
        ) -> Result<()> {
            SqlStore::delete_key(self, org_id, client_id, audit).await
        }

        async fn key_policy(&self, org_id: &OrgId) -> Result<KeyPolicy> {
            SqlStore::key_policy(self, org_id).await
        }

        async fn set_key_policy(
            &self,
            org_id: &OrgId,
            policy: &KeyPolicy,
            now: i64,
            audit: &AuditEvent,
        ) -> Result<()> {
            SqlStore::set_key_policy(self, org_id, policy, now, audit).await
        }

        async fn key_by_secret_hash(&self, secret_hash: &Digest) -> Result<Option<KeyRecord>> {
            SqlStore::key_by_secret_hash(self, secret_hash).await
        }

        async fn revoke_exposed_key(
            &self,
            org_id: &OrgId,
            client_id: &ClientId,
            secret_hash: &Digest,
            audit: &AuditEvent,
        ) -> Result<bool> {
            SqlStore::revoke_exposed_key(self, org_id, client_id, secret_hash, audit).await
        }

        async fn flag_exposed_key(
            &self,
            org_id: &OrgId,
            client_id: &ClientId,
            secret_hash: &Digest,
            now: i64,
            audit: &AuditEvent,
        ) -> Result<bool> {
            SqlStore::flag_exposed_key(self, org_id, client_id, secret_hash, now, audit).await
        }

        async fn on_leak(&self, org_id: &OrgId) -> Result<OnLeak> {
            SqlStore::on_leak(self, org_id).await
        }

        async fn set_on_leak(
            &self,
            org_id: &OrgId,
            on_leak: OnLeak,
            audit: &AuditEvent,
        ) -> Result<()> {
            SqlStore::set_on_leak(self, org_id, on_leak, audit).await
        }

        async fn due_key_notices(&self, now: i64, limit: u32) -> Result<Vec<(KeyRecord, u8)>> {
            SqlStore::due_key_notices(self, now, limit).await
        }

        async fn claim_key_notice(
            &self,
            client_id: &ClientId,
            notice: &KeyNotice,
            audit: &AuditEvent,
        ) -> Result<bool> {
            SqlStore::claim_key_notice(self, client_id, notice, audit).await
        }

        async fn settle_credits(&self, uses: &[CreditsUse]) -> Result<Vec<SettledCredits>> {
            SqlStore::settle_credits(self, uses).await
        }

        async fn key_credits(&self) -> Result<Vec<SettledCredits>> {
            SqlStore::key_credits(self).await
        }

        async fn claim_credits_exhausted(
            &self,
            client_id: &ClientId,
            mark: i64,
            audit: &AuditEvent,
        ) -> Result<bool> {
            SqlStore::claim_credits_exhausted(self, client_id, mark, audit).await
        }
    }
}
