//! Workload identity federation (RFC 8693 token exchange): a scoped key's
//! rules naming which outside OIDC issuer's tokens may act as it, and the
//! checks of such a token: its JWS signature (RS256 or ES256) against one of
//! the issuer's published keys, and its `iss`, `aud`, `sub`, `exp` and `nbf`.
//! No I/O and no clock: the server fetches the issuer's keys and passes the
//! time.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::text::{Invalid, quote};

/// At most this many rules per key.
pub const MAX_RULES: usize = 10;
const MAX_FIELD_CHARS: usize = 512;
/// A subject token longer than this is refused before it is decoded.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Clock skew allowed between the issuer and Keygate on `exp` and `nbf`.
pub const LEEWAY_SECS: i64 = 30;

/// One rule: tokens of `issuer`, for `audience`, whose `sub` is `subject`
/// (or starts with it, when it ends in `*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct FederationRule {
    pub issuer: String,
    pub audience: String,
    pub subject: String,
}

impl FederationRule {
    /// Whether a token's subject is one this rule lets in.
    pub fn allows_subject(&self, sub: &str) -> bool {
        match self.subject.strip_suffix('*') {
            Some(prefix) => sub.starts_with(prefix),
            None => sub == self.subject,
        }
    }

    /// Whether the rule lets in a token with these claims.
    pub fn allows(&self, claims: &OutsideClaims) -> bool {
        claims.iss == self.issuer
            && claims.aud.contains(&self.audience)
            && self.allows_subject(&claims.sub)
    }
}

/// A key's federation rules, checked; empty: the key takes no token exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FederationRules(Vec<FederationRule>);

impl FederationRules {
    /// Checks rules as a client sent them; `field` names the list in errors
    /// (`federation[2].issuer`). The issuer must be an `https://` URL
    /// (`http://` too when `insecure`, for tests and demos).
    pub fn parse(
        rules: &[FederationRule],
        field: &str,
        insecure: bool,
    ) -> Result<FederationRules, Invalid> {
        if rules.len() > MAX_RULES {
            return Err(Invalid::new(
                field,
                format!("at most {MAX_RULES} rules per key"),
            ));
        }
        let mut out = Vec::with_capacity(rules.len());
        for (i, r) in rules.iter().enumerate() {
            let at = |name: &str| format!("{field}[{i}].{name}");
            let issuer = clean(&r.issuer, &at("issuer"))?;
            check_issuer(&issuer, insecure).map_err(|m| Invalid::new(at("issuer"), m))?;
            let audience = clean(&r.audience, &at("audience"))?;
            let subject = clean(&r.subject, &at("subject"))?;
            if subject == "*" {
                return Err(Invalid::new(
                    at("subject"),
                    "must name a subject, or a prefix before a final *: a bare * would let every \
                     identity of the issuer in",
                ));
            }
            if subject.trim_end_matches('*').contains('*') || subject.ends_with("**") {
                return Err(Invalid::new(
                    at("subject"),
                    "may hold * only as its last character (a prefix match)",
                ));
            }
            out.push(FederationRule {
                issuer,
                audience,
                subject,
            });
        }
        Ok(FederationRules(out))
    }

    /// Rules read back from the store, which checked them when they were written.
    pub fn stored(rules: Vec<FederationRule>) -> FederationRules {
        FederationRules(rules)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[FederationRule] {
        &self.0
    }

    /// Whether some rule names this issuer (only then are its keys fetched).
    pub fn names_issuer(&self, iss: &str) -> bool {
        self.0.iter().any(|r| r.issuer == iss)
    }

    /// The first rule that lets in a token with these claims.
    pub fn matching(&self, claims: &OutsideClaims) -> Option<&FederationRule> {
        self.0.iter().find(|r| r.allows(claims))
    }
}

fn clean(raw: &str, source: &str) -> Result<String, Invalid> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(Invalid::new(source, "must not be empty"));
    }
    if s.chars().count() > MAX_FIELD_CHARS {
        return Err(Invalid::new(
            source,
            format!("must be at most {MAX_FIELD_CHARS} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Invalid::new(source, "must not contain control characters"));
    }
    Ok(s.to_owned())
}

/// An issuer is the URL its tokens put in `iss`: a scheme, a host, perhaps a
/// path; no query, fragment or user name.
fn check_issuer(issuer: &str, insecure: bool) -> Result<(), String> {
    let rest = if let Some(rest) = issuer.strip_prefix("https://") {
        rest
    } else if let Some(rest) = issuer.strip_prefix("http://") {
        if !insecure {
            return Err(
                "must start with https:// (http:// needs serve --allow-insecure-issuers)".into(),
            );
        }
        rest
    } else {
        return Err("must be a URL starting with https://".into());
    };
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || issuer.contains(['?', '#', '@', ' ', '\\']) {
        return Err(format!(
            "{} must be a URL with a host and no query, fragment or user name",
            quote(issuer)
        ));
    }
    Ok(())
}

/// `aud` as a JWT carries it: one string or a list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims of an outside token that the rules and times look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub nbf: Option<i64>,
}

#[derive(Deserialize)]
struct RawClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    nbf: Option<i64>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
}

/// Why an outside token is refused. The messages are safe to show: they name
/// no secret and nothing of the key's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("subject_token is not a signed JWT with iss, sub, aud and exp")]
    Malformed,
    #[error("subject_token must be signed with RS256 or ES256")]
    Algorithm,
    #[error("subject_token names no kid in its header")]
    NoKid,
    #[error("no federation rule of this client matches the token's issuer, audience and subject")]
    NoRule,
    #[error("subject_token has expired")]
    Expired,
    #[error("subject_token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the issuer publishes no key with the token's kid")]
    UnknownKey,
    #[error("subject_token's signature does not verify with the issuer's key")]
    BadSignature,
    #[error("the issuer's OIDC discovery document or JWKS cannot be read")]
    IssuerUnavailable,
}

/// The signature algorithms taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
}

/// An outside JWT, decoded but not yet verified.
#[derive(Debug)]
pub struct SubjectToken<'a> {
    pub alg: Alg,
    pub kid: String,
    pub claims: OutsideClaims,
    signing_input: &'a str,
    signature: Vec<u8>,
}

impl<'a> SubjectToken<'a> {
    /// Decodes a compact JWS; nothing is trusted until [`Self::verify`].
    pub fn read(jwt: &'a str) -> Result<SubjectToken<'a>, Refusal> {
        if jwt.len() > MAX_TOKEN_LEN {
            return Err(Refusal::Malformed);
        }
        let (signing_input, sig) = jwt.rsplit_once('.').ok_or(Refusal::Malformed)?;
        let (h, c) = signing_input.split_once('.').ok_or(Refusal::Malformed)?;
        let header: RawHeader = decode(h)?;
        let alg = match header.alg.as_str() {
            "RS256" => Alg::Rs256,
            "ES256" => Alg::Es256,
            _ => return Err(Refusal::Algorithm),
        };
        let kid = header.kid.filter(|k| !k.is_empty()).ok_or(Refusal::NoKid)?;
        let raw: RawClaims = decode(c)?;
        let signature = B64.decode(sig).map_err(|_| Refusal::Malformed)?;
        if signature.is_empty() {
            return Err(Refusal::Algorithm);
        }
        Ok(SubjectToken {
            alg,
            kid,
            claims: OutsideClaims {
                iss: raw.iss,
                sub: raw.sub,
                aud: match raw.aud {
                    Audience::One(a) => vec![a],
                    Audience::Many(a) => a,
                },
                exp: raw.exp,
                nbf: raw.nbf,
            },
            signing_input,
            signature,
        })
    }

    /// `exp` and `nbf` at `now_secs`, with [`LEEWAY_SECS`] either way.
    pub fn check_times(&self, now_secs: i64) -> Result<(), Refusal> {
        if self.claims.exp.saturating_add(LEEWAY_SECS) <= now_secs {
            return Err(Refusal::Expired);
        }
        if self
            .claims
            .nbf
            .is_some_and(|nbf| nbf.saturating_sub(LEEWAY_SECS) > now_secs)
        {
            return Err(Refusal::NotYetValid);
        }
        Ok(())
    }

    /// The signature, with the issuer's key of the token's `kid`; the key's
    /// type must be the one `alg` names.
    pub fn verify(&self, key: &Jwk) -> Result<(), Refusal> {
        use aws_lc_rs::signature::{
            ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
            UnparsedPublicKey,
        };
        let msg = self.signing_input.as_bytes();
        let ok = match (self.alg, key) {
            (Alg::Rs256, Jwk::Rsa { n, e }) => RsaPublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, msg, &self.signature)
                .is_ok(),
            (Alg::Es256, Jwk::P256 { point }) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(msg, &self.signature)
                    .is_ok()
            }
            _ => false,
        };
        ok.then_some(()).ok_or(Refusal::BadSignature)
    }
}

fn decode<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, Refusal> {
    let bytes = B64.decode(part).map_err(|_| Refusal::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Refusal::Malformed)
}

/// A public key an issuer publishes in its JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jwk {
    /// Modulus and exponent, big-endian, without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The uncompressed point `04 || x || y`.
    P256 { point: Vec<u8> },
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// The signing keys of a JWKS document by `kid`: RSA and P-256 keys with a
/// `kid`; others (encryption keys, other curves, broken entries) are skipped.
/// `None` when the document is not a JWKS at all.
pub fn parse_jwks(doc: &[u8]) -> Option<HashMap<String, Jwk>> {
    let jwks: RawJwks = serde_json::from_slice(doc).ok()?;
    let mut out = HashMap::new();
    for v in jwks.keys {
        let Ok(k) = serde_json::from_value::<RawJwk>(v) else {
            continue;
        };
        let Some(kid) = k.kid.filter(|k| !k.is_empty()) else {
            continue;
        };
        if k.usage.as_deref().is_some_and(|u| u != "sig") {
            continue;
        }
        let b = |s: Option<String>| s.and_then(|s| B64.decode(s).ok());
        let jwk = match k.kty.as_str() {
            "RSA" => match (b(k.n), b(k.e)) {
                (Some(n), Some(e)) => Jwk::Rsa {
                    n: strip_zeros(n),
                    e: strip_zeros(e),
                },
                _ => continue,
            },
            "EC" if k.crv.as_deref() == Some("P-256") => match (b(k.x), b(k.y)) {
                (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                    let mut point = Vec::with_capacity(65);
                    point.push(4);
                    point.extend_from_slice(&x);
                    point.extend_from_slice(&y);
                    Jwk::P256 { point }
                }
                _ => continue,
            },
            _ => continue,
        };
        out.insert(kid, jwk);
    }
    Some(out)
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(subject: &str) -> FederationRule {
        FederationRule {
            issuer: "https://token.actions.githubusercontent.com".into(),
            audience: "keygate".into(),
            subject: subject.into(),
        }
    }

    #[test]
    fn a_subject_ending_in_a_star_is_a_prefix() {
        let r = rule("repo:acme/app:ref:refs/heads/*");
        assert!(r.allows_subject("repo:acme/app:ref:refs/heads/main"));
        assert!(!r.allows_subject("repo:acme/app:pull_request"));
        let exact = rule("repo:acme/app:ref:refs/heads/main");
        assert!(exact.allows_subject("repo:acme/app:ref:refs/heads/main"));
        assert!(!exact.allows_subject("repo:acme/app:ref:refs/heads/main2"));
    }

    #[test]
    fn rules_are_checked_and_name_the_field() {
        let bad = |r: FederationRule, insecure| {
            FederationRules::parse(&[rule("x"), r], "federation", insecure)
                .err()
                .map(|e| e.source)
        };
        let mut http = rule("x");
        http.issuer = "http://127.0.0.1:8080".into();
        assert_eq!(
            bad(http.clone(), false).as_deref(),
            Some("federation[1].issuer")
        );
        assert_eq!(bad(http, true), None);
        assert_eq!(
            bad(rule("*"), false).as_deref(),
            Some("federation[1].subject")
        );
        assert_eq!(
            bad(rule("a*b"), false).as_deref(),
            Some("federation[1].subject")
        );
        let mut aud = rule("x");
        aud.audience = " ".into();
        assert_eq!(bad(aud, false).as_deref(), Some("federation[1].audience"));
        let eleven = vec![rule("x"); 11];
        assert!(FederationRules::parse(&eleven, "federation", false).is_err());
    }

    #[test]
    fn times_allow_a_little_skew_and_no_more() {
        let t = SubjectToken {
            alg: Alg::Rs256,
            kid: "k".into(),
            claims: OutsideClaims {
                iss: "i".into(),
                sub: "s".into(),
                aud: vec!["a".into()],
                exp: 1000,
                nbf: Some(500),
            },
            signing_input: "",
            signature: vec![1],
        };
        assert_eq!(t.check_times(1000), Ok(()));
        assert_eq!(t.check_times(1000 + LEEWAY_SECS), Err(Refusal::Expired));
        assert_eq!(t.check_times(500 - LEEWAY_SECS), Ok(()));
        assert_eq!(t.check_times(400), Err(Refusal::NotYetValid));
    }

    #[test]
    fn alg_none_and_unknown_algorithms_are_refused() {
        let h = B64.encode(br#"{"alg":"none","kid":"k"}"#);
        let c = B64.encode(br#"{"iss":"i","sub":"s","aud":"a","exp":1}"#);
        assert_eq!(
            SubjectToken::read(&format!("{h}.{c}.")).err(),
            Some(Refusal::Algorithm)
        );
        let h = B64.encode(br#"{"alg":"RS256","kid":"k"}"#);
        assert_eq!(
            SubjectToken::read(&format!("{h}.{c}.")).err(),
            Some(Refusal::Algorithm)
        );
    }
}
