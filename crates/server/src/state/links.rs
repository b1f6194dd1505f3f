//! Single-use tokens that go out in mailed links (invitations, password
//! resets). A token is HMAC(pepper, nonce) in base64url (32 bytes, 43
//! characters): the outbox row of the mail keeps only the nonce, so the
//! database alone never reveals a token, and the table of the thing the link
//! opens keeps only the token's SHA-256 ([`token_digest`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keygate_core::crypto::{Digest, Pepper, hex, random_bytes, sha256};
use keygate_store::MailLink;

/// The token a link's nonce stands for.
pub fn token(pepper: &Pepper, nonce: &str) -> String {
    URL_SAFE_NO_PAD.encode(pepper.digest(format!("mail-link:{nonce}").as_bytes()).0)
}

/// A fresh link under `path` (e.g. `/app/invitations/`): what the mail carries,
/// and the token (to digest and store, or to print for an operator).
pub fn new_link(pepper: &Pepper, path: &str) -> (MailLink, String) {
    let nonce = hex(&random_bytes::<32>());
    let t = token(pepper, &nonce);
    (
        MailLink {
            path: path.to_owned(),
            nonce,
        },
        t,
    )
}

/// The full URL of a link.
pub fn url(public_url: &str, pepper: &Pepper, link: &MailLink) -> String {
    format!(
        "{}{}{}",
        public_url.trim_end_matches('/'),
        link.path,
        token(pepper, &link.nonce)
    )
}

/// What the database keeps of a token, and what a presented token is looked
/// up by. Tokens of the wrong shape never match anything.
pub fn token_digest(token: &str) -> Digest {
    sha256(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_follows_from_the_nonce_and_the_pepper_only() {
        let p = Pepper::new(b"0123456789abcdef0123456789abcdef");
        let (link, t) = new_link(&p, "/app/invitations/");
        assert_eq!(t.len(), 43);
        assert_eq!(token(&p, &link.nonce), t);
        assert_ne!(
            token(
                &Pepper::new(b"another pepper, 32 characters!!"),
                &link.nonce
            ),
            t
        );
        assert_eq!(
            url("http://h:1/", &p, &link),
            format!("http://h:1/app/invitations/{t}")
        );
    }
}
