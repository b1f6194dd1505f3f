//! API keys: the stored key, what a regenerate or an edit writes, credits,
//! lifecycle notices, and what the credential cache keeps of a key.

use std::sync::Arc;

use keygate_core::credits::Credits;
use keygate_core::crypto::Digest;
use keygate_core::federation::FederationRules;
use keygate_core::network::Networks;
use keygate_core::permission::KeyScope;
use keygate_core::{ClientId, OrgId, RateLimit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Admin,
    Scoped,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Admin => "admin",
            KeyKind::Scoped => "scoped",
        }
    }
}

/// An API key as stored: never the secret, only its keyed digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub client_id: ClientId,
    pub org_id: OrgId,
    pub kind: KeyKind,
    /// For admin keys, the org or account id the key belongs to.
    pub owner_id: Option<String>,
    pub name: String,
    pub secret_hash: Digest,
    /// Starts at 1; every regenerate adds one.
    pub generation: u64,
    pub scope: KeyScope,
    /// The key's own rate limit; `None` takes the organization's default.
    pub rate_limit: Option<RateLimit>,
    /// Unix ms after which the key is dead; `None`: never.
    pub expires_at: Option<i64>,
    /// The secret a regenerate with a grace period replaced, while it lives.
    pub previous_secret: Option<PreviousSecret>,
    /// Where the key may be used from; empty: anywhere.
    pub allowed_networks: Networks,
    /// Only DPoP-bound tokens (RFC 9449) are issued for this key.
    pub require_dpop: bool,
    /// Outside OIDC tokens that may be exchanged for this key's tokens (RFC
    /// 8693); empty: none.
    pub federation: FederationRules,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the current secret was reported leaked and the organization's
    /// `on_leak` is `notify` (the key still works); `None` otherwise.
    pub exposed_at: Option<i64>,
    /// The key's credits as last settled; `None`: it has none.
    pub credits: Option<Credits>,
}

/// The secret before the last regenerate, still accepted until `expires_at`
/// (Unix ms). Its tokens carry `generation - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousSecret {
    pub secret_hash: Digest,
    pub expires_at: i64,
}

/// What a regenerate writes (see `Store::regenerate_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// The digest of the new secret.
    pub secret_hash: Digest,
    /// With a grace period: when the replaced secret dies (Unix ms). `None`:
    /// it dies now.
    pub previous_secret_expires_at: Option<i64>,
    /// The key's expiry after the regenerate (`None`: never).
    pub expires_at: Option<i64>,
    /// The key's own rate limit after the regenerate (`None`: none, the
    /// organization's default applies).
    pub rate_limit: Option<RateLimit>,
}

/// What an edit of a scoped key writes (see `Store::update_key`): the values
/// the key has afterwards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyEdit<'a> {
    pub name: &'a str,
    pub scope: &'a KeyScope,
    pub rate_limit: Option<RateLimit>,
    /// `None`: never expires.
    pub expires_at: Option<i64>,
    /// Where the key may be used from; empty: anywhere.
    pub allowed_networks: &'a Networks,
    pub require_dpop: bool,
    /// `None` keeps the key's credits (and what was used of them),
    /// `Some(None)` removes them, `Some(Some(c))` sets new ones.
    pub credits: Option<Option<Credits>>,
    pub federation: &'a FederationRules,
}

/// Credits used on one instance since its last settle (see
/// `Store::settle_credits`): `used` of the setting `set_at`, in the refill
/// period starting `period_start` (0 without a refill).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditsUse {
    pub client_id: ClientId,
    pub set_at: i64,
    pub period_start: i64,
    pub used: i64,
}

/// A key's credits as the database has them after a settle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledCredits {
    pub client_id: ClientId,
    pub remaining: i64,
    pub period_start: i64,
    pub set_at: i64,
}

/// How long before a key's expiry its two warnings go out: 7 days, 1 day.
pub const EXPIRY_WARNINGS_MS: [i64; 2] = [7 * 86_400_000, 86_400_000];

/// A lifecycle notice of one key, claimed once (see `Store::claim_key_notice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyNotice {
    /// The previous secret's grace ended at `at`: clear it.
    PreviousSecretExpired { at: i64 },
    /// The expiry notice stage goes from `from` to `to` (1: expiring within 7
    /// days, 2: within 1 day, 3: expired) for the expiry `expires_at`.
    Expiry { from: u8, to: u8, expires_at: i64 },
}

/// What the credential cache keeps of a key: no name, no owner, no times but
/// the two that end it (its expiry, its previous secret's death).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCredential {
    pub client_id: ClientId,
    pub org_id: OrgId,
    pub secret_hash: Digest,
    pub generation: u64,
    pub scope: Arc<KeyScope>,
    /// The key's own rate limit (the organization's default is cached apart).
    pub rate_limit: Option<RateLimit>,
    pub expires_at: Option<i64>,
    pub previous_secret: Option<PreviousSecret>,
    /// `None`: anywhere (the common case costs the hot path nothing).
    pub allowed_networks: Option<Arc<Networks>>,
    /// Login and `/oauth/token` issue only DPoP-bound tokens.
    pub require_dpop: bool,
    /// The key's credits as last settled; `None`: it has none.
    pub credits: Option<Arc<Credits>>,
}

impl From<&KeyRecord> for KeyCredential {
    fn from(k: &KeyRecord) -> KeyCredential {
        KeyCredential {
            client_id: k.client_id.clone(),
            org_id: k.org_id.clone(),
            secret_hash: k.secret_hash,
            generation: k.generation,
            scope: Arc::new(k.scope.clone()),
            rate_limit: k.rate_limit,
            expires_at: k.expires_at,
            previous_secret: k.previous_secret,
            allowed_networks: (!k.allowed_networks.is_empty())
                .then(|| Arc::new(k.allowed_networks.clone())),
            require_dpop: k.require_dpop,
            credits: k.credits.map(Arc::new),
        }
    }
}
