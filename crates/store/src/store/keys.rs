//! API keys: reads, writes and rotation, rate limits, an organization's key
//! policy, leaked keys, lifecycle notices and credits.

use async_trait::async_trait;
use keygate_core::crypto::Digest;
use keygate_core::network::Networks;
use keygate_core::policy::KeyPolicy;
use keygate_core::{ClientId, OnLeak, OrgId, RateLimit};

use crate::{
    AuditEvent, CreditsUse, KeyCredential, KeyEdit, KeyNotice, KeyRecord, Result, Rotation,
    SettledCredits,
};

/// API keys and an organization's rules for them.
///
/// One area of [`Store`](crate::Store), implemented for `SqlStore` in
/// `sql/store/keys.rs`.
#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn keys(&self, org_id: &OrgId) -> Result<Vec<KeyRecord>>;

    async fn key(&self, org_id: &OrgId, client_id: &ClientId) -> Result<Option<KeyRecord>>;

    /// A key by client id alone, for the credential cache.
    async fn key_by_client_id(&self, client_id: &ClientId) -> Result<Option<KeyRecord>>;

    async fn all_keys(&self) -> Result<Vec<KeyRecord>>;

    /// Every key's hot-path fields, handed to `f` one at a time without holding
    /// them all (the credential cache loads a million keys at start this way).
    /// Keys with the same scope may share one `Arc<KeyScope>`.
    async fn each_key_credential(&self, f: &mut (dyn FnMut(KeyCredential) + Send)) -> Result<()> {
        for k in self.all_keys().await? {
            f(KeyCredential::from(&k));
        }
        Ok(())
    }

    /// Conflict when the owner already has an admin key.
    async fn insert_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()>;

    /// Inserts many keys in few transactions (seeding, imports), with `audit`
    /// written once for the whole batch.
    async fn insert_keys(&self, keys: &[KeyRecord], audit: &AuditEvent) -> Result<()> {
        for (i, k) in keys.iter().enumerate() {
            let mut event = audit.clone();
            if i > 0 {
                event.event_id = keygate_core::EventId::generate();
            }
            self.insert_key(k, &event).await?;
        }
        Ok(())
    }

    /// Replaces the secret and bumps the generation, so every token issued
    /// before stops working; with `rotation.previous_secret_expires_at`, the
    /// replaced secret (and its tokens) keeps working until then. Any older
    /// previous secret dies. Sets the expiry (a changed expiry starts its
    /// notices over). `allowed_networks`, when given, replaces the key's
    /// allowlist in the same change.
    async fn regenerate_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        rotation: &Rotation,
        allowed_networks: Option<&Networks>,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord>;

    /// Edits a scoped key (NotFound for admin keys): name, scope, rate limit,
    /// expiry and allowlist. A changed expiry starts its notices over; a
    /// previous secret's grace is cut to the new expiry.
    async fn update_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        edit: &KeyEdit<'_>,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord>;

    /// Sets or clears the rate limit of a key of either kind.
    async fn set_key_rate_limit(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        rate_limit: Option<RateLimit>,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord>;

    /// An organization's default rate limit for its keys (`NotFound` if no
    /// such organization).
    async fn org_rate_limit(&self, org_id: &OrgId) -> Result<Option<RateLimit>>;

    /// Every organization with a default rate limit, for the credential cache.
    async fn org_rate_limits(&self) -> Result<Vec<(OrgId, RateLimit)>>;

    /// Sets or clears an organization's default rate limit (`Change::Org`).
    async fn set_org_rate_limit(
        &self,
        org_id: &OrgId,
        rate_limit: Option<RateLimit>,
        audit: &AuditEvent,
    ) -> Result<()>;

    /// Deletes a scoped key.
    async fn delete_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        audit: &AuditEvent,
    ) -> Result<()>;

    /// The organization's key policy; the default (no rule) when none was set.
    async fn key_policy(&self, org_id: &OrgId) -> Result<KeyPolicy>;

    /// Replaces the organization's key policy.
    async fn set_key_policy(
        &self,
        org_id: &OrgId,
        policy: &KeyPolicy,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<()>;

    // Leaked keys (secret scanning).

    /// The key whose current secret, or previous secret during a grace
    /// period, has this digest.
    async fn key_by_secret_hash(&self, secret_hash: &Digest) -> Result<Option<KeyRecord>>;

    /// Deletes a key (either kind) reported leaked, with `audit`, if its
    /// secret is still `secret_hash`; false, writing nothing, when not.
    async fn revoke_exposed_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        secret_hash: &Digest,
        audit: &AuditEvent,
    ) -> Result<bool>;

    /// Marks a key reported leaked as exposed, with `audit`, if its secret is
    /// still `secret_hash` and it is not marked yet; false, writing nothing,
    /// when not. Regenerating the key clears the mark.
    async fn flag_exposed_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        secret_hash: &Digest,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<bool>;

    /// What the organization does with a live key reported leaked (NotFound
    /// for no organization).
    async fn on_leak(&self, org_id: &OrgId) -> Result<OnLeak>;

    async fn set_on_leak(&self, org_id: &OrgId, on_leak: OnLeak, audit: &AuditEvent) -> Result<()>;

    // Lifecycle notices.

    /// Keys with a lifecycle notice due at `now`, with their expiry notice
    /// stage: a previous secret whose grace ended, or an expiry warning
    /// (`EXPIRY_WARNINGS_MS`) or expiry not yet sent. At most `limit`.
    async fn due_key_notices(&self, now: i64, limit: u32) -> Result<Vec<(KeyRecord, u8)>>;

    /// Claims one notice with a conditional update (clearing the previous
    /// secret, or moving the expiry notice stage on) and writes `audit` with
    /// it; false, and nothing written, when the notice was already claimed
    /// (by another instance) or the key changed meanwhile.
    async fn claim_key_notice(
        &self,
        client_id: &ClientId,
        notice: &KeyNotice,
        audit: &AuditEvent,
    ) -> Result<bool>;

    // Credits.

    /// Subtracts the instances' uses of keys' credits (one transaction, not
    /// on the change feed); what each touched key has left.
    async fn settle_credits(&self, uses: &[CreditsUse]) -> Result<Vec<SettledCredits>>;

    /// What every key with credits has left, as last settled.
    async fn key_credits(&self) -> Result<Vec<SettledCredits>>;

    /// Claims `api_key.credits_exhausted` of the key for `mark` (its setting
    /// or refill period) and writes `audit` in the same transaction; false
    /// when it was claimed before.
    async fn claim_credits_exhausted(
        &self,
        client_id: &ClientId,
        mark: i64,
        audit: &AuditEvent,
    ) -> Result<bool>;
}
