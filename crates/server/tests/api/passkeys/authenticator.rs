//! A software authenticator for the passkey tests: one P-256 key (ES256),
//! attestation "none", assertions with user presence and verification. It
//! writes the few CBOR shapes a "none" attestation needs by hand, in CTAP2's
//! canonical order (Keygate never parses CBOR itself: its library does), and
//! answers options in the WebAuthn JSON encoding as a browser would.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use keygate_core::crypto::random_bytes;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use sha2::Digest as _;

pub struct Authenticator {
    key: SigningKey,
    pub credential_id: Vec<u8>,
    /// The user handle from the options it was created with.
    pub user_handle: Vec<u8>,
    /// The counter of the next assertion is this plus one.
    pub sign_count: u32,
    /// The RP ID it hashes into authenticator data, and the origin the
    /// "browser" puts in the client data (normally the page's).
    pub rp_id: String,
    pub origin: String,
}

/// A CBOR head: major type and argument.
fn head(major: u8, n: usize) -> Vec<u8> {
    let m = major << 5;
    match n {
        0..=23 => vec![m | n as u8],
        24..=0xff => vec![m | 24, n as u8],
        _ => {
            let mut v = vec![m | 25];
            v.extend_from_slice(&(n as u16).to_be_bytes());
            v
        }
    }
}

fn cbor_bytes(b: &[u8]) -> Vec<u8> {
    let mut v = head(2, b.len());
    v.extend_from_slice(b);
    v
}

fn cbor_text(s: &str) -> Vec<u8> {
    let mut v = head(3, s.len());
    v.extend_from_slice(s.as_bytes());
    v
}

impl Authenticator {
    pub fn new(rp_id: &str, origin: &str) -> Authenticator {
        Authenticator {
            key: SigningKey::from_slice(&random_bytes::<32>()).unwrap(),
            credential_id: random_bytes::<32>().to_vec(),
            user_handle: Vec::new(),
            sign_count: 0,
            rp_id: rp_id.to_owned(),
            origin: origin.to_owned(),
        }
    }

    /// The COSE_Key of the public key: {1: 2 (EC2), 3: -7 (ES256), -1: 1
    /// (P-256), -2: x, -3: y}.
    fn cose_key(&self) -> Vec<u8> {
        let p = self.key.verifying_key().to_sec1_point(false);
        let b = p.as_bytes();
        let mut v = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        v.extend(cbor_bytes(&b[1..33]));
        v.push(0x22);
        v.extend(cbor_bytes(&b[33..65]));
        v
    }

    fn client_data(&self, kind: &str, public_key: &Value) -> Vec<u8> {
        json!({
            "type": kind,
            "challenge": public_key["challenge"],
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    /// rpIdHash, flags (user present and verified, plus `extra`), counter.
    fn auth_data(&self, extra: u8) -> Vec<u8> {
        let mut v = sha2::Sha256::digest(self.rp_id.as_bytes()).to_vec();
        v.push(0x01 | 0x04 | extra);
        v.extend_from_slice(&self.sign_count.to_be_bytes());
        v
    }

    /// `navigator.credentials.create()` for creation options: the
    /// RegistrationResponseJSON with a "none" attestation.
    pub fn create(&mut self, public_key: &Value) -> Value {
        self.user_handle = B64
            .decode(public_key["user"]["id"].as_str().unwrap())
            .unwrap();
        let client_data = self.client_data("webauthn.create", public_key);
        let mut auth_data = self.auth_data(0x40);
        auth_data.extend_from_slice(&[0; 16]);
        auth_data.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend(self.cose_key());
        // {"fmt": "none", "attStmt": {}, "authData": …}, shortest key first.
        let mut att = vec![0xa3];
        att.extend(cbor_text("fmt"));
        att.extend(cbor_text("none"));
        att.extend(cbor_text("attStmt"));
        att.push(0xa0);
        att.extend(cbor_text("authData"));
        att.extend(cbor_bytes(&auth_data));
        let id = B64.encode(&self.credential_id);
        json!({
            "id": id, "rawId": id, "type": "public-key", "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": B64.encode(&client_data),
                "attestationObject": B64.encode(&att),
                "transports": ["internal"],
            },
        })
    }

    /// `navigator.credentials.get()` for request options: the
    /// AuthenticationResponseJSON, its counter one up.
    pub fn get(&mut self, public_key: &Value) -> Value {
        self.sign_count += 1;
        let client_data = self.client_data("webauthn.get", public_key);
        let auth_data = self.auth_data(0);
        let mut signed = auth_data.clone();
        signed.extend(sha2::Sha256::digest(&client_data));
        let sig: Signature = self.key.sign(&signed);
        let id = B64.encode(&self.credential_id);
        json!({
            "id": id, "rawId": id, "type": "public-key", "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": B64.encode(&client_data),
                "authenticatorData": B64.encode(&auth_data),
                "signature": B64.encode(sig.to_der().as_bytes()),
                "userHandle": B64.encode(&self.user_handle),
            },
        })
    }
}
