//! Single sign-on rules without I/O: the email domains an organization
//! claims, the domain of an email, and the sealing of a value that must be
//! read back (the OpenID client secret, the short-lived sign-in state) under
//! a key derived from the pepper, bound to what it belongs to.

use subtle::ConstantTimeEq;

use crate::crypto::{Pepper, hex, hmac_sha256, random_bytes, unhex};
use crate::text::Invalid;

/// Domains one organization may claim.
pub const MAX_DOMAINS: usize = 20;

/// The domain of an email address, lowercased: what follows its last `@`.
pub fn email_domain(email: &str) -> Option<String> {
    let (local, domain) = email.trim().rsplit_once('@')?;
    let domain = domain.to_ascii_lowercase();
    (!local.is_empty() && is_domain(&domain)).then_some(domain)
}

/// A DNS name of at least two labels: letters, digits and `-`, no label
/// starting or ending with `-`, at most 253 characters.
fn is_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The `domains` of the settings: 1 to [`MAX_DOMAINS`] DNS names, lowercased,
/// without repeats, in the order given.
pub fn parse_domains(given: &[String]) -> Result<Vec<String>, Invalid> {
    if given.is_empty() || given.len() > MAX_DOMAINS {
        return Err(Invalid::new(
            "domains",
            format!("must list 1 to {MAX_DOMAINS} email domains, e.g. [\"example.com\"]"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(given.len());
    for raw in given {
        let d = raw.trim().trim_start_matches('@').to_ascii_lowercase();
        if !is_domain(&d) {
            return Err(Invalid::new(
                "domains",
                "each domain must be a DNS name such as example.com",
            ));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

const SEAL_ENC: &[u8] = b"keygate sealed value encryption v1";
const SEAL_MAC: &[u8] = b"keygate sealed value authentication v1";

/// Seals `value` for storage or a cookie, bound to `context` (an org id, a
/// purpose): keystream blocks = HMAC(enc_key, nonce || counter), ciphertext =
/// value XOR keystream, tag = HMAC(mac_key, len(context) || context || nonce
/// || ciphertext) (encrypt-then-MAC, as the two-factor seal, for values of
/// any length). Text form: `s1.<hex nonce 16 B, ciphertext, tag 32 B>`.
pub fn seal(pepper: &Pepper, context: &str, value: &[u8]) -> String {
    let nonce: [u8; 16] = random_bytes();
    let ct = xor_stream(pepper, &nonce, value);
    let tag = tag(pepper, context, &nonce, &ct);
    format!("s1.{}{}{}", hex(&nonce), hex(&ct), hex(&tag))
}

/// The value sealed by [`seal`] with the same pepper and context; `None` for
/// anything else (another context, a changed text, another pepper).
pub fn open(sealed: &str, pepper: &Pepper, context: &str) -> Option<Vec<u8>> {
    let bytes = unhex(sealed.strip_prefix("s1.")?)?;
    if bytes.len() < 16 + 32 {
        return None;
    }
    let (nonce, rest) = bytes.split_at(16);
    let (ct, got) = rest.split_at(rest.len() - 32);
    let expected = tag(pepper, context, nonce, ct);
    if !bool::from(expected.ct_eq(got)) {
        return None;
    }
    Some(xor_stream(pepper, nonce, ct))
}

fn tag(pepper: &Pepper, context: &str, nonce: &[u8], ct: &[u8]) -> [u8; 32] {
    let mac = pepper.digest(SEAL_MAC).0;
    let len = (context.len() as u64).to_be_bytes();
    hmac_sha256(&mac, &[&len, context.as_bytes(), nonce, ct])
}

fn xor_stream(pepper: &Pepper, nonce: &[u8], data: &[u8]) -> Vec<u8> {
    let enc = pepper.digest(SEAL_ENC).0;
    data.chunks(32)
        .enumerate()
        .flat_map(|(i, chunk)| {
            let block = hmac_sha256(&enc, &[nonce, &(i as u64).to_be_bytes()]);
            chunk
                .iter()
                .zip(block)
                .map(|(b, k)| b ^ k)
                .collect::<Vec<u8>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_pepper_and_context_and_unchanged() {
        let p = Pepper::new(b"pepper one");
        let secret = b"a client secret longer than one block of thirty-two bytes";
        let s = seal(&p, "org_a", secret);
        assert!(!s.contains(&hex(secret)));
        assert_eq!(open(&s, &p, "org_a").as_deref(), Some(&secret[..]));
        assert_eq!(open(&s, &p, "org_b"), None);
        assert_eq!(open(&s, &Pepper::new(b"pepper two"), "org_a"), None);
        let mut changed = s.clone().into_bytes();
        let at = changed.len() - 70;
        changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            open(&String::from_utf8(changed).unwrap(), &p, "org_a"),
            None
        );
        assert_ne!(seal(&p, "org_a", secret), s, "a fresh nonce each time");
        assert_eq!(open(&seal(&p, "x", b""), &p, "x"), Some(vec![]));
    }

    #[test]
    fn domains_are_dns_names_lowercased_once_each() {
        let d = parse_domains(&[
            "Example.COM".into(),
            "@example.com".into(),
            "a.b-c.org".into(),
        ]);
        assert_eq!(d.unwrap(), ["example.com", "a.b-c.org"]);
        for bad in ["", "localhost", "-a.com", "a..com", "a b.com", "x.com/"] {
            assert_eq!(parse_domains(&[bad.into()]).unwrap_err().source, "domains");
        }
        assert!(parse_domains(&[]).is_err());
        assert_eq!(
            email_domain("Pat@Example.Test").as_deref(),
            Some("example.test")
        );
        assert_eq!(email_domain("nobody"), None);
        assert_eq!(email_domain("@example.com"), None);
    }
}
