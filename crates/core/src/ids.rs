//! Identifier newtypes. Each has a prefix (`org_`, `acct_`, …) followed by base62
//! characters, so a value of one kind can never be mistaken for another.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::crypto::random_base62;

/// Random characters after the prefix: 22 base62 characters are about 131 bits.
const ID_CHARS: usize = 22;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random identifier.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, random_base62(ID_CHARS)))
            }

            /// Accepts only the shape this crate generates.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let rest = s.strip_prefix($prefix).ok_or(IdError)?;
                if rest.len() == ID_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdError)
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        // Hashes like its string, so maps keyed by the id can be searched by `&str`.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}

/// The string does not have the shape of this kind of identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid identifier")]
pub struct IdError;

id_type!(
    /// A tenant.
    OrgId,
    "org_"
);
id_type!(
    /// A legal entity inside an organization.
    AccountId,
    "acct_"
);
id_type!(
    /// A person who signs in to the Developer app.
    UserId,
    "usr_"
);
id_type!(
    /// The public, stable identifier of an API key. Regenerate keeps it.
    ClientId,
    "cid_"
);
id_type!(
    /// One audit or notification event.
    EventId,
    "evt_"
);
id_type!(
    /// A registered webhook endpoint.
    WebhookId,
    "whk_"
);
id_type!(
    /// One notification to one webhook or one mailbox.
    DeliveryId,
    "dlv_"
);
id_type!(
    /// An audit stream: an organization's hash chain sent on to a receiver.
    AuditStreamId,
    "ast_"
);

id_type!(
    /// The public id of a signed-in session (never its token or the token's hash).
    SessionId,
    "ses_"
);
id_type!(
    /// A person's registered passkey (WebAuthn credential).
    PasskeyId,
    "pk_"
);
id_type!(
    /// An invitation to join an organization.
    InvitationId,
    "inv_"
);

/// What an access token is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LoginTarget {
    Org,
    Account(AccountId),
}

impl LoginTarget {
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            LoginTarget::Org => None,
            LoginTarget::Account(a) => Some(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let id = OrgId::generate();
        assert_eq!(OrgId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn an_id_of_another_kind_is_refused() {
        let acct = AccountId::generate();
        assert_eq!(OrgId::parse(acct.as_str()), Err(IdError));
    }

    #[test]
    fn ids_with_odd_characters_or_length_are_refused() {
        assert!(ClientId::parse("cid_short").is_err());
        assert!(ClientId::parse("cid_aaaaaaaaaaaaaaaaaaaaa/").is_err());
        assert!(ClientId::parse("no_such_client_id_000000").is_err());
    }
}
