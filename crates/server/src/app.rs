//! The shared state every handler sees.

use std::sync::{Arc, RwLock};

use keygate_core::Catalog;
use keygate_core::crypto::Pepper;
use keygate_core::token::TokenKeys;
use keygate_store::Store;

use crate::cache::CredentialCache;
use crate::config::Settings;
use crate::gateway::Upstream;
use crate::notify::Notifier;
use crate::ratelimit::Limits;
use crate::service::audit::AuditSink;

pub type AppState = Arc<App>;

pub struct App {
    pub store: Arc<dyn Store>,
    pub cache: CredentialCache,
    pub catalog: Catalog,
    pub pepper: Pepper,
    tokens: RwLock<Arc<TokenKeys>>,
    pub settings: Settings,
    pub limits: Limits,
    /// Browsers and addresses users signed in from (failure limits).
    pub known: crate::service::known::KnownSignIns,
    pub audit: AuditSink,
    pub upstream: Option<Upstream>,
    /// The Developer app's form tokens.
    pub ui: crate::ui::UiState,
    /// Wakes the notification dispatcher after a change queued deliveries.
    pub notifier: Notifier,
}

impl App {
    pub async fn new(
        store: Arc<dyn Store>,
        settings: Settings,
        pepper: Pepper,
        tokens: TokenKeys,
    ) -> anyhow::Result<AppState> {
        let cache = CredentialCache::load(store.as_ref()).await?;
        let upstream = match &settings.upstream {
            Some(url) => Some(Upstream::new(url, settings.upstream_timeout)?),
            None => None,
        };
        Ok(Arc::new(App {
            audit: AuditSink::start(store.clone()),
            catalog: settings.catalog.clone(),
            store,
            cache,
            ui: crate::ui::UiState::new(&pepper),
            known: crate::service::known::KnownSignIns::new(&pepper),
            pepper,
            tokens: RwLock::new(Arc::new(tokens)),
            settings,
            limits: Limits::default(),
            upstream,
            notifier: Notifier::default(),
        }))
    }

    pub fn tokens(&self) -> Arc<TokenKeys> {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Swaps in signing keys read again from the data dir (after a rotation).
    pub fn set_tokens(&self, keys: TokenKeys) {
        *self.tokens.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
    }
}
