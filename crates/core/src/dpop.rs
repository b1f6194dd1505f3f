//! DPoP proofs (RFC 9449): a JWT the client signs with its own key pair for one
//! request, so that a token bound to that key (`cnf.jkt`) is useless to
//! whoever steals it without the private key.
//!
//! Written here, like the access tokens in `token.rs`, so that exactly the two
//! algorithms the contract names exist (ES256 and EdDSA) and nothing but the
//! proof's own public key is ever used to check it. The replay rule (a `jti`
//! once) needs memory and is the server's; everything else is here.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;

use crate::crypto::sha256;

/// How far (seconds) a proof's `iat` may be from now, either way.
pub const IAT_WINDOW_SECS: i64 = 60;

/// The algorithms a proof may use, as `dpop_signing_alg_values_supported`.
pub const ALGORITHMS: [&str; 2] = ["ES256", "EdDSA"];

/// Why a proof was refused. Every one is answered `invalid_dpop_proof`; the
/// text is for the log and the error description, never a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the DPoP proof is not a well-formed JWT")]
    Malformed,
    #[error("the DPoP proof's typ must be dpop+jwt")]
    Type,
    #[error("the DPoP proof's alg must be ES256 or EdDSA, with a matching public jwk")]
    Algorithm,
    #[error("the DPoP proof's signature does not verify under its jwk")]
    Signature,
    #[error("the DPoP proof's htm is not the request's method")]
    Method,
    #[error("the DPoP proof's htu is not the request's URI")]
    Uri,
    #[error("the DPoP proof's iat is not within 60 seconds of now")]
    Time,
    #[error("the DPoP proof's ath is not the hash of the access token")]
    TokenHash,
    #[error("the DPoP proof was made with another key than the token is bound to")]
    Key,
    #[error("the DPoP proof was used before: make a new one for every request")]
    Replayed,
}

/// What a proof must say: the request it goes with and, when it presents an
/// access token, that token.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub htm: &'a str,
    /// The origin (`scheme://host[:port]`) the client called.
    pub origin: &'a str,
    /// The request's path, without its query.
    pub path: &'a str,
    pub access_token: Option<&'a str>,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

/// A proof that verified: its key's RFC 7638 thumbprint, and what the replay
/// rule needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
}

#[derive(Deserialize)]
struct Header {
    typ: Option<String>,
    alg: String,
    jwk: Jwk,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    crv: String,
    x: String,
    #[serde(default)]
    y: Option<String>,
    /// A private key in the header is refused outright.
    #[serde(default)]
    d: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
}

/// Checks a proof against the request: shape, `typ`, algorithm and key,
/// signature, `htm`, `htu` (query and fragment ignored, scheme and host
/// compared without case), `iat` within [`IAT_WINDOW_SECS`], and `ath` when an
/// access token goes with it (a proof with `ath` and no token is refused too:
/// it was made for another use).
pub fn verify(proof: &str, expected: &Expected<'_>) -> Result<Proof, ProofError> {
    if proof.len() > 4096 {
        return Err(ProofError::Malformed);
    }
    let (signed, sig_b64) = proof.rsplit_once('.').ok_or(ProofError::Malformed)?;
    let (header_b64, claims_b64) = signed.split_once('.').ok_or(ProofError::Malformed)?;
    let header: Header = decode_json(header_b64)?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(ProofError::Type);
    }
    if header.jwk.d.is_some() {
        return Err(ProofError::Algorithm);
    }
    let sig = B64.decode(sig_b64).map_err(|_| ProofError::Malformed)?;
    let jkt = match (
        header.alg.as_str(),
        header.jwk.kty.as_str(),
        header.jwk.crv.as_str(),
    ) {
        ("ES256", "EC", "P-256") => {
            let y = header.jwk.y.as_deref().ok_or(ProofError::Algorithm)?;
            verify_es256(&header.jwk.x, y, signed.as_bytes(), &sig)?;
            thumbprint_ec(&header.jwk.x, y)
        }
        ("EdDSA", "OKP", "Ed25519") => {
            verify_ed25519(&header.jwk.x, signed.as_bytes(), &sig)?;
            thumbprint_okp(&header.jwk.x)
        }
        _ => return Err(ProofError::Algorithm),
    };
    let claims: Claims = decode_json(claims_b64)?;
    if claims.jti.is_empty() || claims.jti.len() > 256 {
        return Err(ProofError::Malformed);
    }
    if claims.htm != expected.htm {
        return Err(ProofError::Method);
    }
    if !same_uri(&claims.htu, expected.origin, expected.path) {
        return Err(ProofError::Uri);
    }
    if (claims.iat - expected.now).abs() > IAT_WINDOW_SECS {
        return Err(ProofError::Time);
    }
    match (expected.access_token, claims.ath.as_deref()) {
        (None, None) => {}
        (Some(token), Some(ath)) if ath == token_hash(token) => {}
        _ => return Err(ProofError::TokenHash),
    }
    Ok(Proof {
        jkt,
        jti: claims.jti,
        iat: claims.iat,
    })
}

fn decode_json<T: serde::de::DeserializeOwned>(b64: &str) -> Result<T, ProofError> {
    let bytes = B64.decode(b64).map_err(|_| ProofError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| ProofError::Malformed)
}

/// ES256: the point is checked with `p256` (a key off the curve is the
/// wrong algorithm's key), the signature verified with aws-lc-rs, whose
/// assembly takes about a twentieth of the instructions of `p256`'s
/// verification (see BENCHMARKS.md, "DPoP on the hot path").
fn verify_es256(x: &str, y: &str, signed: &[u8], sig: &[u8]) -> Result<(), ProofError> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
    let (x, y) = (coordinate(x)?, coordinate(y)?);
    let mut sec1 = [0u8; 65];
    sec1[0] = 4;
    sec1[1..33].copy_from_slice(&x);
    sec1[33..].copy_from_slice(&y);
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| ProofError::Algorithm)?;
    if sig.len() != 64 {
        return Err(ProofError::Signature);
    }
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &sec1)
        .verify(signed, sig)
        .map_err(|_| ProofError::Signature)
}

fn coordinate(b64: &str) -> Result<[u8; 32], ProofError> {
    B64.decode(b64)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(ProofError::Algorithm)
}

fn verify_ed25519(x: &str, signed: &[u8], sig: &[u8]) -> Result<(), ProofError> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(&coordinate(x)?)
        .map_err(|_| ProofError::Algorithm)?;
    let sig: [u8; 64] = sig.try_into().map_err(|_| ProofError::Signature)?;
    key.verify_strict(signed, &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| ProofError::Signature)
}

/// RFC 7638 thumbprint of a P-256 key: the required members in order.
pub fn thumbprint_ec(x: &str, y: &str) -> String {
    let json = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    B64.encode(sha256(json.as_bytes()).0)
}

/// RFC 7638 thumbprint of an Ed25519 key (RFC 8037 §2).
pub fn thumbprint_okp(x: &str) -> String {
    let json = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    B64.encode(sha256(json.as_bytes()).0)
}

/// `ath`: base64url of the SHA-256 of the access token (RFC 9449 §4.2).
pub fn token_hash(token: &str) -> String {
    B64.encode(sha256(token.as_bytes()).0)
}

/// Whether a proof's `htu` names `origin` + `path` (RFC 9449 §4.3: query and
/// fragment left out; scheme and host are case-insensitive, RFC 3986 §6.2.2.1).
fn same_uri(htu: &str, origin: &str, path: &str) -> bool {
    let htu = htu.split(['?', '#']).next().unwrap_or(htu);
    let Some((scheme, rest)) = htu.split_once("://") else {
        return false;
    };
    let (authority, htu_path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let Some((o_scheme, o_authority)) = origin.split_once("://") else {
        return false;
    };
    scheme.eq_ignore_ascii_case(o_scheme)
        && authority.eq_ignore_ascii_case(o_authority)
        && htu_path == path
}

/// The origin (`scheme://authority`) of a URL such as `--public-url`.
pub fn origin_of(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    match url[after..].find('/') {
        Some(i) => &url[..after + i],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 9449 §4.1's example proof and §6.1's thumbprint of its key.
    const RFC_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";

    fn rfc(now: i64) -> Expected<'static> {
        Expected {
            htm: "POST",
            origin: "https://server.example.com",
            path: "/token",
            access_token: None,
            now,
        }
    }

    #[test]
    fn the_rfc_example_proof_verifies_to_its_thumbprint() {
        let p = verify(RFC_PROOF, &rfc(1_562_262_616)).unwrap();
        assert_eq!(p.jkt, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
        assert_eq!(p.jti, "-BwC3ESc6acc2lTc");
    }

    #[test]
    fn the_rfc_example_is_refused_for_another_request_or_time() {
        let mut e = rfc(1_562_262_616);
        e.htm = "GET";
        assert_eq!(verify(RFC_PROOF, &e), Err(ProofError::Method));
        let mut e = rfc(1_562_262_616);
        e.path = "/other";
        assert_eq!(verify(RFC_PROOF, &e), Err(ProofError::Uri));
        let mut e = rfc(1_562_262_616);
        e.origin = "https://evil.example.com";
        assert_eq!(verify(RFC_PROOF, &e), Err(ProofError::Uri));
        assert_eq!(
            verify(RFC_PROOF, &rfc(1_562_262_616 + 61)),
            Err(ProofError::Time)
        );
        let mut e = rfc(1_562_262_616);
        e.access_token = Some("t");
        assert_eq!(verify(RFC_PROOF, &e), Err(ProofError::TokenHash));
    }

    #[test]
    fn the_rfc_example_token_hash() {
        assert_eq!(
            token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn a_changed_proof_breaks_its_signature() {
        let (h, rest) = RFC_PROOF.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        let other = B64.encode(
            r#"{"jti":"x","htm":"POST","htu":"https://server.example.com/token","iat":1562262616}"#,
        );
        assert_eq!(
            verify(&format!("{h}.{other}.{s}"), &rfc(1_562_262_616)),
            Err(ProofError::Signature)
        );
    }

    #[test]
    fn uris_compare_without_query_and_with_case_free_hosts() {
        assert!(same_uri(
            "https://A.example.com/x?y=1",
            "https://a.example.com",
            "/x"
        ));
        assert!(!same_uri(
            "https://a.example.com/x/",
            "https://a.example.com",
            "/x"
        ));
        assert!(!same_uri(
            "http://a.example.com/x",
            "https://a.example.com",
            "/x"
        ));
        assert_eq!(
            origin_of("https://k.example.com/base"),
            "https://k.example.com"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
