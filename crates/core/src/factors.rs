//! What a person proved to open a session: the password alone, the password
//! and a second factor, or a passkey (two factors in one). Kept with the session, so a rule such as an
//! organization's "require two-factor" asks how *this session* was made, not
//! whether its user has two-factor on today (a session opened with the
//! password before the user turned two-factor on proved only the password).

/// How a session was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionFactors {
    /// The password only.
    Password,
    /// The password, then a TOTP code or a recovery code.
    PasswordAndCode,
    /// The organization's OpenID provider (single sign-on). Keygate cannot
    /// tell which factors the provider checked, so it grants no more than
    /// the password alone.
    Sso,
    /// A passkey (WebAuthn, user verification required): something the user
    /// has and something they know or are, so it counts as two factors.
    Passkey,
}

impl SessionFactors {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionFactors::Password => "password",
            SessionFactors::PasswordAndCode => "password_and_code",
            SessionFactors::Sso => "sso",
            SessionFactors::Passkey => "passkey",
        }
    }

    /// The stored text; anything else reads as [`SessionFactors::Password`],
    /// the one that grants the least.
    pub fn parse(s: &str) -> SessionFactors {
        match s {
            "password_and_code" => SessionFactors::PasswordAndCode,
            "sso" => SessionFactors::Sso,
            "passkey" => SessionFactors::Passkey,
            _ => SessionFactors::Password,
        }
    }

    /// Whether a second factor was checked when the session was made.
    pub fn has_second_factor(self) -> bool {
        matches!(
            self,
            SessionFactors::PasswordAndCode | SessionFactors::Passkey
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_read_back_as_written_and_unknown_text_grants_the_least() {
        for f in [
            SessionFactors::Password,
            SessionFactors::PasswordAndCode,
            SessionFactors::Sso,
            SessionFactors::Passkey,
        ] {
            assert_eq!(SessionFactors::parse(f.as_str()), f);
        }
        assert_eq!(SessionFactors::parse("passkey?"), SessionFactors::Password);
        assert!(SessionFactors::PasswordAndCode.has_second_factor());
        assert!(SessionFactors::Passkey.has_second_factor());
        assert!(!SessionFactors::Password.has_second_factor());
    }
}
