//! The API key format: `kg_<env>_<30 random base62><6 base62 of the CRC32 of the rest>`.
//!
//! 30 base62 characters carry about 178 bits of entropy. The `kg_` prefix makes
//! leaked keys recognisable to secret scanners, and the checksum lets a typo or a
//! random string be refused before any lookup or HMAC is spent on it.

use std::fmt;

use crate::crypto::{BASE62, random_base62};

const RANDOM_CHARS: usize = 30;
const CHECK_CHARS: usize = 6;
const MAX_ENV_LEN: usize = 8;

/// A syntactically valid API key. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// Why a string is not an API key. Callers answer all of these with the same 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the key does not have the kg_<env>_… shape")]
    Shape,
    #[error("the key's checksum does not match")]
    Checksum,
}

impl ApiKey {
    /// A fresh key for environment `env` (e.g. `live`).
    pub fn generate(env: &str) -> ApiKey {
        let body = format!("kg_{env}_{}", random_base62(RANDOM_CHARS));
        let check = checksum(&body);
        ApiKey(body + &check)
    }

    pub fn parse(s: &str) -> Result<ApiKey, KeyFormatError> {
        let rest = s.strip_prefix("kg_").ok_or(KeyFormatError::Shape)?;
        let (env, tail) = rest.split_once('_').ok_or(KeyFormatError::Shape)?;
        let env_ok = !env.is_empty()
            && env.len() <= MAX_ENV_LEN
            && env.bytes().all(|b| b.is_ascii_lowercase());
        let tail_ok = tail.len() == RANDOM_CHARS + CHECK_CHARS
            && tail.bytes().all(|b| b.is_ascii_alphanumeric());
        if !env_ok || !tail_ok {
            return Err(KeyFormatError::Shape);
        }
        let (body, check) = s.split_at(s.len() - CHECK_CHARS);
        if checksum(body) != check {
            return Err(KeyFormatError::Checksum);
        }
        Ok(ApiKey(s.to_owned()))
    }

    /// The secret itself, for the one response that reveals it and for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(redacted)")
    }
}

/// CRC32 of `body` as exactly six base62 digits, most significant first.
fn checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes()) as u64;
    let mut out = [b'0'; CHECK_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse() {
        let k = ApiKey::generate("live");
        assert!(k.expose().starts_with("kg_live_"));
        assert_eq!(k.expose().len(), "kg_live_".len() + 36);
        assert_eq!(ApiKey::parse(k.expose()), Ok(k));
    }

    #[test]
    fn a_single_changed_character_fails_the_checksum() {
        let k = ApiKey::generate("live");
        let s = k.expose();
        let i = 12;
        let c = if &s[i..=i] == "a" { "b" } else { "a" };
        let typo = format!("{}{}{}", &s[..i], c, &s[i + 1..]);
        assert_eq!(ApiKey::parse(&typo), Err(KeyFormatError::Checksum));
    }

    #[test]
    fn strings_of_the_wrong_shape_are_refused() {
        for s in [
            "",
            "kg_",
            "kg_live_",
            "sk_live_0123456789012345678901234567890123456",
            "kg_LIVE_012345678901234567890123456789012345",
            "kg_live_01234567890123456789012345678901234",
            "kg_live_0123456789012345678901234567890123456",
            "kg_live_01234567890123456789012345678901234-",
            "kg_toolongenv_012345678901234567890123456789012345",
        ] {
            assert_eq!(ApiKey::parse(s), Err(KeyFormatError::Shape), "{s}");
        }
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let k = ApiKey::generate("live");
        assert!(!format!("{k:?}").contains(k.expose()));
    }

    #[test]
    fn checksum_is_padded_to_six_characters() {
        assert_eq!(checksum("").len(), 6);
        assert_eq!(checksum("kg_live_x").len(), 6);
    }
}
