//! The shared state every surface sees: what sits below the surfaces (store,
//! credential cache, catalog, pepper, signing keys, settings, failure limits,
//! the audit queue and the notification dispatcher's wake-up). A surface's own
//! state (the gateway's upstream client, the app's form tokens) lives in that
//! surface's router state, not here.

use std::sync::{Arc, RwLock};

use keygate_core::Catalog;
use keygate_core::crypto::Pepper;
use keygate_core::token::TokenKeys;
use keygate_store::Store;
use tokio::sync::Notify;

use crate::state::attempts::AttemptLimits;
use crate::state::audit::AuditSink;
use crate::state::cache::CredentialCache;
use crate::state::config::Settings;
use crate::state::metrics::Metrics;
use crate::state::rate_limits::KeyRateLimits;

pub type AppState = Arc<App>;

pub struct App {
    pub store: Arc<dyn Store>,
    pub cache: CredentialCache,
    pub catalog: Catalog,
    pub pepper: Pepper,
    signing_keys: RwLock<Arc<TokenKeys>>,
    pub settings: Settings,
    pub attempts: AttemptLimits,
    /// Per-key rate limits (counted on every token check).
    pub rate_limits: Arc<KeyRateLimits>,
    /// Keys' credits (counted on every allowed token check of a key with
    /// credits; `tasks/credits.rs` settles them).
    pub credits: crate::state::credits::KeyCredits,
    /// Browsers and addresses users signed in from (failure limits).
    pub known: crate::state::known::KnownSignIns,
    pub audit: AuditSink,
    /// Wakes the notification dispatcher after a change queued deliveries.
    pub dispatcher: Wake,
    /// Last use and calls per key, counted in memory; `upkeep` writes them.
    pub usage: crate::state::usage::Usage,
    /// GitHub's secret-scanning keys, with `--github-scanning-keys`.
    pub github_keys: Option<crate::state::leak_keys::GithubKeys>,
    /// Prometheus metrics; recorded only with `--metrics-listen`.
    pub metrics: Metrics,
    /// DPoP proofs seen recently: each is accepted once.
    pub dpop_proofs: crate::state::dpop_proofs::SeenProofs,
    /// Outside OIDC issuers' signing keys (token exchange).
    pub issuer_keys: crate::state::issuer_keys::IssuerKeys,
}

impl App {
    pub async fn new(
        store: Arc<dyn Store>,
        settings: Settings,
        pepper: Pepper,
        signing_keys: TokenKeys,
    ) -> anyhow::Result<AppState> {
        let cache = CredentialCache::load(store.as_ref()).await?;
        let github_keys = match &settings.github_scanning_keys {
            Some(path) => Some(crate::state::leak_keys::GithubKeys::load(path)?),
            None => None,
        };
        let rate_limits = Arc::new(KeyRateLimits::new(settings.redis.is_some()));
        let metrics = Metrics::new(settings.metrics_listen.is_some());
        let dpop_proofs = crate::state::dpop_proofs::SeenProofs::new(settings.redis.clone());
        Ok(Arc::new(App {
            github_keys,
            audit: AuditSink::start(
                store.clone(),
                settings.audit_queue_capacity,
                metrics.audit_drops(),
            ),
            catalog: settings.catalog.clone(),
            store,
            cache,
            known: crate::state::known::KnownSignIns::new(&pepper),
            pepper,
            signing_keys: RwLock::new(Arc::new(signing_keys)),
            settings,
            attempts: AttemptLimits::default(),
            rate_limits,
            credits: Default::default(),
            dispatcher: Wake::default(),
            metrics,
            usage: crate::state::usage::Usage::default(),
            dpop_proofs,
            issuer_keys: Default::default(),
        }))
    }

    /// The keys that sign access tokens (the newest signs, all verify).
    pub fn signing_keys(&self) -> Arc<TokenKeys> {
        self.signing_keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Swaps in signing keys read again from the data dir (after a rotation).
    pub fn set_signing_keys(&self, keys: TokenKeys) {
        *self.signing_keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
    }
}

/// Wakes a background task that otherwise polls.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    /// Returns once woken (or at once if woken since the last call).
    pub async fn woken(&self) {
        self.0.notified().await;
    }
}
