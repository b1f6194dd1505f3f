//! Two-factor sign-in: time-based one-time passwords (RFC 6238 over RFC 4226:
//! HMAC-SHA-1, 6 digits, 30-second steps), the base32 text authenticator apps
//! read, recovery codes, and the sealing of the shared secret at rest.
//!
//! Plain computation: the caller passes the time (Unix seconds) and the key.

use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;

use crate::crypto::{Pepper, hex, hmac_sha256, random_bytes, unhex};

/// Seconds per time step.
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// How many recovery codes a user gets at once.
pub const RECOVERY_CODES: usize = 10;

/// The shared secret: 20 random bytes (RFC 4226 recommends 160 bits).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; 20]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    pub fn generate() -> TotpSecret {
        TotpSecret(random_bytes())
    }

    pub fn from_bytes(bytes: [u8; 20]) -> TotpSecret {
        TotpSecret(bytes)
    }

    /// The secret from its base32 text (as [`TotpSecret::to_base32`] writes it;
    /// case, spaces and padding ignored).
    pub fn from_base32(text: &str) -> Option<TotpSecret> {
        let (mut buf, mut bits, mut out) = (0u32, 0u32, Vec::with_capacity(20));
        for c in text.chars().filter(|c| !matches!(c, ' ' | '=')) {
            let v = match c.to_ascii_uppercase() {
                u @ 'A'..='Z' => u as u32 - 'A' as u32,
                d @ '2'..='7' => d as u32 - '2' as u32 + 26,
                _ => return None,
            };
            buf = (buf << 5) | v;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((buf >> bits) as u8);
            }
        }
        Some(TotpSecret(out.try_into().ok()?))
    }

    /// RFC 4648 base32 without padding, as authenticator apps take it.
    pub fn to_base32(&self) -> String {
        base32(&self.0)
    }

    /// The code for time step `step` (RFC 4226 dynamic truncation).
    pub fn code_at_step(&self, step: i64) -> String {
        #[allow(clippy::expect_used)]
        let mut mac =
            hmac::Hmac::<sha1::Sha1>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(&step.to_be_bytes());
        let h = mac.finalize().into_bytes();
        let offset = (h[19] & 0x0f) as usize;
        let bin = u32::from_be_bytes([
            h[offset] & 0x7f,
            h[offset + 1],
            h[offset + 2],
            h[offset + 3],
        ]);
        format!("{:06}", bin % 10u32.pow(DIGITS))
    }

    /// The step of `code` within one step either side of `now_secs` (clock
    /// drift between phone and server), if that step is later than
    /// `last_used_step`: a code works once, and no earlier code works after it.
    pub fn verify(&self, code: &str, now_secs: i64, last_used_step: i64) -> Option<i64> {
        let code = code.trim();
        if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = step_of(now_secs);
        // Every candidate is compared, in constant time, so timing tells
        // nothing about which step matched.
        let mut found = None;
        for step in [now - 1, now, now + 1] {
            let ok: bool = self
                .code_at_step(step)
                .as_bytes()
                .ct_eq(code.as_bytes())
                .into();
            if ok && step > last_used_step && found.is_none() {
                found = Some(step);
            }
        }
        found
    }

    /// Seals the secret for storage, bound to its user: it is the one
    /// two-factor value that must be read back, so it is kept encrypted under
    /// a key derived from the pepper (which never enters the database), and
    /// the user id is authenticated with it (associated data), so a sealed
    /// secret copied onto another user's row does not open there.
    /// Construction, with only the workspace's HMAC-SHA-256: keystream =
    /// HMAC(enc_key, nonce), ciphertext = secret XOR keystream, tag =
    /// HMAC(mac_key, len(user id) || user id || nonce || ciphertext)
    /// (encrypt-then-MAC). Text form: `v2.<hex nonce 16 B, ciphertext 20 B, tag 32 B>`.
    pub fn seal(&self, pepper: &Pepper, user_id: &str) -> String {
        let nonce: [u8; 16] = random_bytes();
        let (enc, mac) = seal_keys(pepper, MAC_V2);
        let ct: [u8; 20] = xor(&self.0, &keystream(&enc, &nonce));
        let tag = tag_v2(&mac, user_id, &nonce, &ct);
        format!("v2.{}{}{}", hex(&nonce), hex(&ct), hex(&tag))
    }

    /// The secret sealed by [`TotpSecret::seal`] with the same pepper for the
    /// same user; `None` for anything else (a wrong pepper, a changed row,
    /// another user's seal, a seal of the old unbound format).
    pub fn open(sealed: &str, pepper: &Pepper, user_id: &str) -> Option<TotpSecret> {
        let (nonce, ct, tag) = parts(sealed.strip_prefix("v2.")?)?;
        let (enc, mac) = seal_keys(pepper, MAC_V2);
        let expected = tag_v2(&mac, user_id, &nonce, &ct);
        if !bool::from(expected.ct_eq(&tag)) {
            return None;
        }
        Some(TotpSecret(xor(&ct, &keystream(&enc, &nonce))))
    }

    /// A secret sealed in the old format (`v1.`, not bound to a user), for
    /// the one-time re-seal at start-up only: the service never accepts a
    /// code against a `v1.` seal.
    pub fn open_unbound_v1(sealed: &str, pepper: &Pepper) -> Option<TotpSecret> {
        let (nonce, ct, tag) = parts(sealed.strip_prefix("v1.")?)?;
        let (enc, mac) = seal_keys(pepper, MAC_V1);
        let expected = hmac_sha256(&mac, &[&nonce, &ct]);
        if !bool::from(expected.ct_eq(&tag)) {
            return None;
        }
        Some(TotpSecret(xor(&ct, &keystream(&enc, &nonce))))
    }
}

/// Whether a sealed secret is of the old format, not bound to its user.
pub fn is_unbound_seal(sealed: &str) -> bool {
    sealed.starts_with("v1.")
}

/// The time step of a moment.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The `otpauth://` URI that authenticator apps scan.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &TotpSecret) -> String {
    format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        secret.to_base32(),
        issuer = percent(issuer),
        account = percent(account),
    )
}

/// A fresh recovery code, `xxxxx-xxxxx` from 32 unambiguous characters (50 bits).
pub fn recovery_code() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz023456789";
    let mut out = String::with_capacity(11);
    for (i, b) in random_bytes::<10>().iter().enumerate() {
        if i == 5 {
            out.push('-');
        }
        out.push(ALPHABET[(b & 31) as usize] as char);
    }
    out
}

/// A recovery code as typed, in the form it is digested in: lowercase, without
/// spaces or dashes. `None` for what cannot be one.
pub fn normalize_recovery_code(typed: &str) -> Option<String> {
    let s: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (s.len() == 10 && s.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(s)
}

/// The MAC key labels of the two seal formats. Both share the encryption
/// key (one secret, one keystream per nonce) but not the MAC key, so a tag of
/// one format never verifies as the other.
const MAC_V1: &[u8] = b"keygate two-factor secret authentication v1";
const MAC_V2: &[u8] = b"keygate two-factor secret authentication v2, bound to the user id";

fn seal_keys(pepper: &Pepper, mac_label: &[u8]) -> ([u8; 32], [u8; 32]) {
    (
        pepper.digest(b"keygate two-factor secret encryption v1").0,
        pepper.digest(mac_label).0,
    )
}

/// The tag of a v2 seal: over the user id (its length first, so no id and
/// nonce run together alike), the nonce and the ciphertext.
fn tag_v2(mac: &[u8; 32], user_id: &str, nonce: &[u8], ct: &[u8]) -> [u8; 32] {
    let len = (user_id.len() as u64).to_be_bytes();
    hmac_sha256(mac, &[&len, user_id.as_bytes(), nonce, ct])
}

/// Nonce, ciphertext and tag of a sealed secret's hex text.
fn parts(text: &str) -> Option<([u8; 16], [u8; 20], [u8; 32])> {
    let bytes = unhex(text)?;
    if bytes.len() != 16 + 20 + 32 {
        return None;
    }
    let (nonce, rest) = bytes.split_at(16);
    let (ct, tag) = rest.split_at(20);
    Some((
        nonce.try_into().ok()?,
        ct.try_into().ok()?,
        tag.try_into().ok()?,
    ))
}

fn keystream(key: &[u8; 32], nonce: &[u8]) -> [u8; 32] {
    hmac_sha256(key, &[nonce])
}

fn xor<const N: usize>(data: &[u8], stream: &[u8; 32]) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = data.get(i).copied().unwrap_or(0) ^ stream[i];
    }
    out
}

/// RFC 4648 base32, no padding.
pub fn base32(bytes: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(A[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(A[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1 rows (8 digits there; the last 6 here).
    const RFC_SECRET: &[u8; 20] = b"12345678901234567890";

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let s = TotpSecret::from_bytes(*RFC_SECRET);
        for (t, code) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(s.code_at_step(step_of(t)), code[2..], "t = {t}");
        }
    }

    #[test]
    fn a_code_works_one_step_either_side_and_only_after_the_last_used_step() {
        let s = TotpSecret::from_bytes(*RFC_SECRET);
        let now = 1111111111;
        let step = step_of(now);
        assert_eq!(s.verify(&s.code_at_step(step), now, 0), Some(step));
        assert_eq!(s.verify(&s.code_at_step(step + 1), now, 0), Some(step + 1));
        assert_eq!(s.verify(&s.code_at_step(step - 1), now, 0), Some(step - 1));
        assert_eq!(s.verify(&s.code_at_step(step + 2), now, 0), None);
        assert_eq!(s.verify(&s.code_at_step(step), now, step), None);
        assert_eq!(s.verify("12345", now, 0), None);
        assert_eq!(s.verify("abcdef", now, 0), None);
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(
            TotpSecret::from_bytes(*RFC_SECRET).to_base32(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        let s = TotpSecret::generate();
        assert_eq!(
            TotpSecret::from_base32(&s.to_base32().to_lowercase()),
            Some(s)
        );
        assert_eq!(TotpSecret::from_base32("MZXW6YTBOI"), None, "not 20 bytes");
    }

    #[test]
    fn a_sealed_secret_opens_only_with_its_pepper_for_its_user_and_unchanged() {
        let s = TotpSecret::generate();
        let p = Pepper::new(b"pepper");
        let sealed = s.seal(&p, "usr_a");
        assert!(sealed.starts_with("v2.") && !is_unbound_seal(&sealed));
        assert!(!sealed.contains(&hex(&s.0)));
        assert_eq!(TotpSecret::open(&sealed, &p, "usr_a"), Some(s.clone()));
        assert_eq!(TotpSecret::open(&sealed, &p, "usr_b"), None, "another user");
        assert_eq!(TotpSecret::open(&sealed, &p, "usr_"), None);
        assert_eq!(
            TotpSecret::open(&sealed, &Pepper::new(b"other"), "usr_a"),
            None
        );
        assert_eq!(TotpSecret::open_unbound_v1(&sealed, &p), None);
        let mut tampered = sealed.clone().into_bytes();
        let i = 3 + 16 * 2 + 1;
        tampered[i] = if tampered[i] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            TotpSecret::open(&String::from_utf8(tampered).unwrap(), &p, "usr_a"),
            None
        );
    }

    /// A seal as versions before the user binding wrote it.
    fn seal_v1(s: &TotpSecret, pepper: &Pepper) -> String {
        let nonce: [u8; 16] = random_bytes();
        let (enc, mac) = seal_keys(pepper, MAC_V1);
        let ct: [u8; 20] = xor(&s.0, &keystream(&enc, &nonce));
        let tag = hmac_sha256(&mac, &[&nonce, &ct]);
        format!("v1.{}{}{}", hex(&nonce), hex(&ct), hex(&tag))
    }

    #[test]
    fn an_old_unbound_seal_opens_only_for_the_re_seal_and_never_as_a_bound_one() {
        let s = TotpSecret::generate();
        let p = Pepper::new(b"pepper");
        let old = seal_v1(&s, &p);
        assert!(is_unbound_seal(&old));
        assert_eq!(TotpSecret::open(&old, &p, "usr_a"), None);
        assert_eq!(
            TotpSecret::open(&old.replacen("v1.", "v2.", 1), &p, "usr_a"),
            None
        );
        let opened = TotpSecret::open_unbound_v1(&old, &p).unwrap();
        assert_eq!(opened, s);
        let resealed = opened.seal(&p, "usr_a");
        assert_eq!(TotpSecret::open(&resealed, &p, "usr_a"), Some(s));
    }

    #[test]
    fn otpauth_uri_names_issuer_account_and_parameters() {
        let s = TotpSecret::from_bytes(*RFC_SECRET);
        assert_eq!(
            otpauth_uri("Keygate", "a b@x.test", &s),
            "otpauth://totp/Keygate:a%20b@x.test?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Keygate&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_normalize_as_typed() {
        let c = recovery_code();
        assert_eq!(c.len(), 11);
        let n = normalize_recovery_code(&c.to_uppercase()).unwrap();
        assert_eq!(Some(n.clone()), normalize_recovery_code(&c));
        assert_eq!(normalize_recovery_code("123456"), None);
    }
}
