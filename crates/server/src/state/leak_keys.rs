//! GitHub's secret-scanning public keys (`--github-scanning-keys`): the JSON
//! file GitHub publishes, `{"public_keys":[{"key_identifier","key","is_current"}]}`
//! with each key a PEM SubjectPublicKeyInfo of a P-256 key, and the check of a
//! report's ECDSA P-256 / SHA-256 signature over its raw body.
//!
//! The file is read at start-up (a bad file stops `serve`) and again on use
//! when its modification time or size changed, so replacing it (GitHub rotates
//! its keys) needs no restart. A file that breaks later keeps the keys read
//! before, with a warning in the log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use anyhow::Context;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

/// Longest key identifier accepted from a request header.
const MAX_KEY_ID: usize = 256;

pub struct GithubKeys {
    path: PathBuf,
    loaded: RwLock<Loaded>,
}

#[derive(Clone)]
struct Loaded {
    /// Modification time and size of the file the keys came from.
    stamp: Option<(SystemTime, u64)>,
    keys: Arc<HashMap<String, VerifyingKey>>,
}

#[derive(Deserialize)]
struct KeyFile {
    public_keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
struct KeyEntry {
    key_identifier: String,
    key: String,
    /// GitHub may still sign with a key that is no longer current while it
    /// rotates: every listed key verifies.
    #[serde(default)]
    #[allow(dead_code)]
    is_current: bool,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Reads and parses the key file.
fn read(path: &Path) -> anyhow::Result<HashMap<String, VerifyingKey>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --github-scanning-keys {}", path.display()))?;
    let file: KeyFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "--github-scanning-keys {}: expected GitHub's JSON \
             {{\"public_keys\":[{{\"key_identifier\",\"key\",\"is_current\"}}]}}",
            path.display()
        )
    })?;
    let mut keys = HashMap::new();
    for entry in file.public_keys {
        let key = VerifyingKey::from_public_key_pem(entry.key.trim()).map_err(|_| {
            anyhow::anyhow!(
                "--github-scanning-keys {}: key {:?} is not a PEM P-256 public key",
                path.display(),
                keygate_core::text::clip(&entry.key_identifier)
            )
        })?;
        keys.insert(entry.key_identifier, key);
    }
    if keys.is_empty() {
        anyhow::bail!("--github-scanning-keys {}: no public keys", path.display());
    }
    Ok(keys)
}

impl GithubKeys {
    /// Reads the file now; an unreadable or malformed file is an error.
    pub fn load(path: &Path) -> anyhow::Result<GithubKeys> {
        let stamp = stamp(path);
        let keys = read(path)?;
        Ok(GithubKeys {
            path: path.to_owned(),
            loaded: RwLock::new(Loaded {
                stamp,
                keys: Arc::new(keys),
            }),
        })
    }

    /// The keys, read again first if the file changed since.
    fn keys(&self) -> Arc<HashMap<String, VerifyingKey>> {
        let now = stamp(&self.path);
        {
            let l = self.loaded.read().unwrap_or_else(|p| p.into_inner());
            if l.stamp == now {
                return l.keys.clone();
            }
        }
        let mut l = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        if l.stamp != now {
            // Recorded either way, so a broken file is reported once per change.
            l.stamp = now;
            match read(&self.path) {
                Ok(keys) => {
                    tracing::info!(keys = keys.len(), "GitHub secret-scanning keys re-read");
                    l.keys = Arc::new(keys);
                }
                Err(e) => tracing::warn!(
                    error = %format!("{e:#}"),
                    "GitHub secret-scanning keys not re-read; the previous ones stay in use"
                ),
            }
        }
        l.keys.clone()
    }

    /// Whether `signature` (base64 of a DER ECDSA signature) signs `body`
    /// with the key named `key_id`. False for an unknown key id or any
    /// malformed input.
    pub fn verify(&self, key_id: &str, signature: &str, body: &[u8]) -> bool {
        if key_id.is_empty() || key_id.len() > MAX_KEY_ID {
            return false;
        }
        let keys = self.keys();
        let Some(key) = keys.get(key_id) else {
            return false;
        };
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
            return false;
        };
        let Ok(sig) = Signature::from_der(&der) else {
            return false;
        };
        key.verify(body, &sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    fn write(path: &Path, kid: &str, k: &SigningKey) {
        let pem = k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
        let json = serde_json::json!({"public_keys": [{"key_identifier": kid, "key": pem, "is_current": true}]});
        std::fs::write(path, json.to_string()).unwrap();
    }

    fn sig(k: &SigningKey, body: &[u8]) -> String {
        let s: Signature = k.sign(body);
        base64::engine::general_purpose::STANDARD.encode(s.to_der().as_bytes())
    }

    #[test]
    fn a_replaced_file_is_read_again_and_a_broken_one_keeps_the_old_keys() {
        let dir = std::env::temp_dir().join(format!("kg-ghkeys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.json");
        let (a, b) = (key(1), key(2));
        write(&path, "kid-a", &a);
        let keys = GithubKeys::load(&path).unwrap();
        let body = b"[]";
        assert!(keys.verify("kid-a", &sig(&a, body), body));
        assert!(
            !keys.verify("kid-a", &sig(&b, body), body),
            "another key's signature"
        );
        assert!(
            !keys.verify("kid-b", &sig(&b, body), body),
            "not listed yet"
        );

        write(&path, "kid-bb", &b);
        assert!(
            keys.verify("kid-bb", &sig(&b, body), body),
            "the new file is used"
        );
        assert!(
            !keys.verify("kid-a", &sig(&a, body), body),
            "the old key is gone"
        );

        std::fs::write(&path, "{not json").unwrap();
        assert!(
            keys.verify("kid-bb", &sig(&b, body), body),
            "a broken file keeps the keys"
        );
        assert!(GithubKeys::load(&path).is_err(), "but stops a start-up");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
