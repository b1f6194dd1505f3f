//! Form tokens: every form the Developer app renders carries one.
//!
//! A token is `<issued ms>.<random>.<hmac>`, the HMAC keyed with a key derived
//! from the pepper (so every instance sharing the pepper accepts it) over the
//! session it was made for. A page of another site cannot read it, so it cannot
//! forge a request (CSRF). Each token is also single-use: a POST consumes it,
//! so reloading the one-time reveal page (which re-sends the form) cannot
//! regenerate or create a key a second time. Used tokens are remembered in
//! memory until they expire anyway; an instance behind a load balancer only
//! knows its own, which is documented.

use std::collections::HashMap;
use std::sync::Mutex;

use keygate_core::crypto::{Digest, Pepper, random_base62};

use crate::state::clock::now_ms;

/// How long a rendered form stays usable.
const TOKEN_TTL_MS: i64 = 12 * 60 * 60 * 1000;
const MAX_REMEMBERED: usize = 200_000;

pub struct FormTokens {
    key: Pepper,
    used: Mutex<HashMap<String, i64>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Missing, forged, for another session, or expired.
    Invalid,
    /// Already submitted once.
    Used,
}

impl FormTokens {
    pub fn new(pepper: &Pepper) -> FormTokens {
        let derived = pepper.digest(b"keygate developer app form tokens v1");
        FormTokens {
            key: Pepper::new(&derived.0),
            used: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, binding: &str, issued: i64, nonce: &str) -> Digest {
        self.key
            .digest(format!("{binding}\n{issued}\n{nonce}").as_bytes())
    }

    /// A fresh token for forms shown to the holder of `binding` (a session
    /// hash, or the pre-session cookie on the sign-in page).
    pub fn issue(&self, binding: &str) -> String {
        let issued = now_ms();
        let nonce = random_base62(22);
        let mac = self.mac(binding, issued, &nonce);
        format!("{issued}.{nonce}.{}", mac.to_hex())
    }

    /// Checks a submitted token and marks it used.
    pub fn consume(&self, binding: &str, token: Option<&str>) -> Result<(), TokenError> {
        let token = token.ok_or(TokenError::Invalid)?;
        let mut parts = token.splitn(3, '.');
        let (Some(issued), Some(nonce), Some(mac)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        let issued: i64 = issued.parse().map_err(|_| TokenError::Invalid)?;
        let given = Digest::from_hex(mac).ok_or(TokenError::Invalid)?;
        if !self.mac(binding, issued, nonce).ct_eq(&given) {
            return Err(TokenError::Invalid);
        }
        let now = now_ms();
        if now - issued > TOKEN_TTL_MS || issued > now + 60_000 {
            return Err(TokenError::Invalid);
        }
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if used.len() >= MAX_REMEMBERED {
            used.retain(|_, expires| *expires > now);
        }
        if used
            .insert(nonce.to_owned(), issued + TOKEN_TTL_MS)
            .is_some()
        {
            return Err(TokenError::Used);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> FormTokens {
        FormTokens::new(&Pepper::new(b"0123456789abcdef0123456789abcdef"))
    }

    #[test]
    fn a_token_works_once_and_only_for_its_session() {
        let t = tokens();
        let tok = t.issue("session-a");
        assert_eq!(t.consume("session-b", Some(&tok)), Err(TokenError::Invalid));
        assert_eq!(t.consume("session-a", Some(&tok)), Ok(()));
        assert_eq!(t.consume("session-a", Some(&tok)), Err(TokenError::Used));
    }

    #[test]
    fn forged_or_missing_tokens_are_refused() {
        let t = tokens();
        let tok = t.issue("s");
        let last = if tok.ends_with('0') { '1' } else { '0' };
        let forged = format!("{}{last}", &tok[..tok.len() - 1]);
        assert_eq!(t.consume("s", Some(&forged)), Err(TokenError::Invalid));
        assert_eq!(t.consume("s", None), Err(TokenError::Invalid));
        assert_eq!(t.consume("s", Some("1.2")), Err(TokenError::Invalid));
        let other = tokens_with(b"another pepper, another instance!");
        assert_eq!(
            other.consume("s", Some(&t.issue("s"))),
            Err(TokenError::Invalid)
        );
    }

    fn tokens_with(p: &[u8]) -> FormTokens {
        FormTokens::new(&Pepper::new(p))
    }
}
