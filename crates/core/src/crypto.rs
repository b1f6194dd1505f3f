//! Small cryptographic helpers: randomness, base62, the keyed digest of secrets and
//! constant-time comparison.

use hmac::{KeyInit, Mac};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `N` bytes from AWS-LC's generator (its CTR-DRBG, per thread, seeded and
/// reseeded from the operating system, safe across `fork`): a login's token
/// id no longer costs a `getrandom` system call (it did, once per login). A
/// machine that cannot give randomness cannot issue secrets, so this aborts
/// rather than continuing weakly.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut buf).expect("the random generator failed");
    buf
}

/// `n` uniformly random base62 characters (rejection sampling, no modulo bias).
pub fn random_base62(n: usize) -> String {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in random_bytes::<64>() {
            // 248 = 4 * 62: bytes at or above it would bias the first characters.
            if b < 248 {
                out.push(BASE62[(b % 62) as usize] as char);
                if out.len() == n {
                    break;
                }
            }
        }
    }
    out
}

/// A 32-byte digest; compared in constant time.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn ct_eq(&self, other: &Digest) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// From 64 hex digits, without a copy on the heap (a million keys'
    /// digests are read this way at start).
    pub fn from_hex(s: &str) -> Option<Digest> {
        let s = s.as_bytes();
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            *o = hex_byte(pair)?;
        }
        Some(Digest(out))
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Digest(..)")
    }
}

/// The secret-keyed digest under which API keys are stored: HMAC-SHA-256 with a
/// pepper that lives outside the database, so a stolen database alone does not
/// let anyone test guesses.
#[derive(Clone)]
pub struct Pepper(hmac::Hmac<Sha256>);

impl Pepper {
    pub fn new(secret: &[u8]) -> Self {
        #[allow(clippy::expect_used)]
        Self(hmac::Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length"))
    }

    pub fn digest(&self, data: &[u8]) -> Digest {
        let mut mac = self.0.clone();
        mac.update(data);
        Digest(mac.finalize().into_bytes().into())
    }
}

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper(..)")
    }
}

/// HMAC-SHA-256 with an arbitrary key over `parts`, one after another.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    #[allow(clippy::expect_used)]
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// [`hmac_sha256`] as hex (webhook signatures).
pub fn hmac_sha256_hex(key: &[u8], parts: &[&[u8]]) -> String {
    hex(&hmac_sha256(key, parts))
}

pub fn sha256(data: &[u8]) -> Digest {
    Digest(Sha256::digest(data).into())
}

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks_exact(2).map(hex_byte).collect()
}

/// The byte two hex digits write.
fn hex_byte(pair: &[u8]) -> Option<u8> {
    Some((nibble(pair[0])? << 4) | nibble(pair[1])?)
}

/// One hex digit's value (either case).
const fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let d = Pepper::new(b"Jefe").digest(b"what do ya want for nothing?");
        assert_eq!(
            d.to_hex(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hex_takes_only_hex_digits() {
        let d = sha256(b"abc");
        assert_eq!(Digest::from_hex(&d.to_hex().to_uppercase()), Some(d));
        for bad in ["+f", "g0", " 0", "0\u{e9}"] {
            let text = format!("{}{bad}", &d.to_hex()[..64 - bad.len()]);
            assert_eq!(Digest::from_hex(&text), None, "{text}");
            assert_eq!(unhex(bad), None, "{bad}");
        }
        assert_eq!(unhex("0"), None);
        assert_eq!(Digest::from_hex(&d.to_hex()[..62]), None);
        assert_eq!(unhex("00ff7A"), Some(vec![0, 255, 122]));
    }

    #[test]
    fn digests_round_trip_through_hex() {
        let d = sha256(b"abc");
        assert_eq!(Digest::from_hex(&d.to_hex()), Some(d));
        assert!(Digest::from_hex("zz").is_none());
    }

    #[test]
    fn random_base62_has_the_length_and_alphabet_asked_for() {
        let s = random_base62(100);
        assert_eq!(s.len(), 100);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
