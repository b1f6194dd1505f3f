//! Access tokens: EdDSA (Ed25519) JWTs with a `kid`.
//!
//! The encoder and verifier are written here rather than taken from a general JWT
//! library so that exactly one algorithm exists: a header naming anything but
//! `EdDSA`, or a `kid` we do not hold, is refused before any signature work.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use std::sync::Arc;

use aws_lc_rs::signature::Ed25519KeyPair;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::crypto::{hex, sha256};
use crate::ids::LoginTarget;
use crate::ids::{AccountId, ClientId, OrgId};

pub const ISSUER: &str = "keygate";

/// What a token says. `gen` is the key's generation when the token was issued:
/// regenerating the key makes every older token fail the online check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The key's client id.
    pub sub: ClientId,
    pub org_id: OrgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<AccountId>,
    pub r#gen: u64,
    pub scope: String,
    /// Seconds since the Unix epoch.
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// Set when the client asked for less than its key allows (OAuth
    /// `scope`): then `scope` limits every check, beside the key's current
    /// scope. Unset, `scope` is informational and the key's scope decides.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub narrowed: bool,
    /// A DPoP-bound token (RFC 9449 §6): the thumbprint of the client's key,
    /// whose fresh proof must go with every use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// RFC 7800 confirmation: the key a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

impl Claims {
    pub fn target(&self) -> LoginTarget {
        match &self.account_id {
            Some(a) => LoginTarget::Account(a.clone()),
            None => LoginTarget::Org,
        }
    }
}

/// Why a token was refused. Callers answer all of them with the same 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported algorithm")]
    Algorithm,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature")]
    Signature,
    #[error("token expired")]
    Expired,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// One Ed25519 signing key and its id.
///
/// Signing is most of what a login costs, so tokens are signed with
/// aws-lc-rs (already in the tree for TLS; its x86-64 Ed25519 is about twice
/// as fast as ed25519-dalek's, see BENCHMARKS.md). Ed25519 signatures are
/// deterministic: both give the same bytes, which a test checks. Verification
/// stays with ed25519-dalek's `verify_strict`.
#[derive(Clone)]
pub struct TokenKey {
    pub kid: String,
    signing: SigningKey,
    signer: Arc<Ed25519KeyPair>,
}

impl TokenKey {
    pub fn from_seed(seed: [u8; 32]) -> TokenKey {
        let signing = SigningKey::from_bytes(&seed);
        let kid = hex(&sha256(signing.verifying_key().as_bytes()).0[..8]);
        // Refused only for a seed that is not 32 bytes, which the type rules out.
        #[allow(clippy::expect_used)]
        let signer = Ed25519KeyPair::from_seed_unchecked(&seed).expect("a 32-byte Ed25519 seed");
        TokenKey {
            kid,
            signing,
            signer: Arc::new(signer),
        }
    }

    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The key as a JSON Web Key (RFC 8037).
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "kid": self.kid,
            "x": B64.encode(self.public().as_bytes()),
        })
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKey({})", self.kid)
    }
}

/// Signs with the newest key; verifies with any key still held, so tokens signed
/// before a rotation stay valid until they expire.
#[derive(Debug, Clone)]
pub struct TokenKeys {
    current: TokenKey,
    verifiers: Vec<(String, VerifyingKey)>,
    header_b64: String,
}

impl TokenKeys {
    /// `keys` oldest first; the last one signs. None if `keys` is empty.
    pub fn new(keys: Vec<TokenKey>) -> Option<TokenKeys> {
        let current = keys.last()?.clone();
        let header = Header {
            alg: "EdDSA".into(),
            typ: Some("JWT".into()),
            kid: Some(current.kid.clone()),
        };
        let header_json = serde_json::to_vec(&header).ok()?;
        let verifiers = keys.iter().map(|k| (k.kid.clone(), k.public())).collect();
        Some(TokenKeys {
            header_b64: B64.encode(header_json),
            current,
            verifiers,
        })
    }

    pub fn current_kid(&self) -> &str {
        &self.current.kid
    }

    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .verifiers
            .iter()
            .map(|(kid, pk)| {
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                                   "kid": kid, "x": B64.encode(pk.as_bytes())})
            })
            .rev()
            .collect();
        serde_json::json!({ "keys": keys })
    }

    pub fn sign(&self, claims: &Claims) -> String {
        // Serializing a struct of strings and integers cannot fail.
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let mut token = String::with_capacity(self.header_b64.len() + payload.len() * 2 + 90);
        token.push_str(&self.header_b64);
        token.push('.');
        B64.encode_string(payload, &mut token);
        let sig = self.current.signer.sign(token.as_bytes());
        token.push('.');
        B64.encode_string(sig.as_ref(), &mut token);
        token
    }

    /// Checks shape, algorithm, key id, signature and expiry (`now` in seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        if token.len() > 8192 {
            return Err(TokenError::Malformed);
        }
        let (signed, sig_b64) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header_b64, payload_b64) = signed.split_once('.').ok_or(TokenError::Malformed)?;
        let header: Header =
            serde_json::from_slice(&B64.decode(header_b64).map_err(|_| TokenError::Malformed)?)
                .map_err(|_| TokenError::Malformed)?;
        if header.alg != "EdDSA" {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self
            .verifiers
            .iter()
            .find(|(k, _)| *k == kid)
            .map(|(_, pk)| pk)
            .ok_or(TokenError::UnknownKey)?;
        let sig_bytes: [u8; 64] = B64
            .decode(sig_b64)
            .map_err(|_| TokenError::Malformed)?
            .try_into()
            .map_err(|_| TokenError::Malformed)?;
        key.verify_strict(signed.as_bytes(), &Signature::from_bytes(&sig_bytes))
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims =
            serde_json::from_slice(&B64.decode(payload_b64).map_err(|_| TokenError::Malformed)?)
                .map_err(|_| TokenError::Malformed)?;
        if claims.iss != ISSUER {
            return Err(TokenError::Malformed);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::random_bytes;

    fn claims(now: i64) -> Claims {
        Claims {
            iss: ISSUER.into(),
            sub: ClientId::generate(),
            org_id: OrgId::generate(),
            account_id: Some(AccountId::generate()),
            r#gen: 1,
            scope: "balances:read".into(),
            iat: now,
            exp: now + 1800,
            jti: "j".into(),
            narrowed: false,
            cnf: None,
        }
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(vec![TokenKey::from_seed(random_bytes())]).unwrap()
    }

    #[test]
    fn aws_lc_signs_the_same_bytes_as_ed25519_dalek() {
        use ed25519_dalek::Signer as _;
        for _ in 0..20 {
            let key = TokenKey::from_seed(random_bytes());
            let msg = random_bytes::<57>();
            let ours = key.signer.sign(&msg);
            assert_eq!(ours.as_ref(), key.signing.sign(&msg).to_bytes().as_slice());
        }
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let k = keys();
        let c = claims(1000);
        assert_eq!(k.verify(&k.sign(&c), 1001), Ok(c));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let k = keys();
        assert_eq!(
            k.verify(&k.sign(&claims(1000)), 2800),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_changed_payload_breaks_the_signature() {
        let k = keys();
        let t = k.sign(&claims(1000));
        let parts: Vec<&str> = t.split('.').collect();
        let mut other = claims(1000);
        other.scope = "everything:write".into();
        let forged_payload = B64.encode(serde_json::to_vec(&other).unwrap());
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(k.verify(&forged, 1001), Err(TokenError::Signature));
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let k = keys();
        let t = k.sign(&claims(1000));
        let payload = t.split('.').nth(1).unwrap();
        for alg in ["none", "HS256", "eddsa"] {
            let h = B64.encode(format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, k.current_kid()));
            assert_eq!(
                k.verify(&format!("{h}.{payload}."), 1001),
                Err(TokenError::Algorithm)
            );
        }
    }

    #[test]
    fn a_token_from_another_key_is_refused() {
        let t = keys().sign(&claims(1000));
        assert_eq!(keys().verify(&t, 1001), Err(TokenError::UnknownKey));
    }

    #[test]
    fn tokens_of_the_previous_key_stay_valid_after_rotation() {
        let old = TokenKey::from_seed(random_bytes());
        let before = TokenKeys::new(vec![old.clone()]).unwrap();
        let t = before.sign(&claims(1000));
        let after = TokenKeys::new(vec![old, TokenKey::from_seed(random_bytes())]).unwrap();
        assert!(after.verify(&t, 1001).is_ok());
        assert_ne!(after.current_kid(), before.current_kid());
        assert_eq!(after.jwks()["keys"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn garbage_is_malformed() {
        let k = keys();
        for t in ["", "a", "a.b", "a.b.c", "....", &"x".repeat(9000)] {
            assert_eq!(k.verify(t, 0), Err(TokenError::Malformed), "{t}");
        }
    }
}
