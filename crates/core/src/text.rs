//! Validated text values: names, emails, passwords. Once one exists it is valid.

use std::fmt;

/// One input is wrong: `source` names the field, `message` says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub source: String,
    pub message: String,
}

impl Invalid {
    pub fn new(source: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            source: source.into(),
            message: message.into(),
        }
    }
}

/// How much of a client's input an error message may quote.
pub const QUOTE_CHARS: usize = 100;

/// Client input as an error message quotes it: in double quotes with Rust's
/// escapes (so control characters stay visible), at most `QUOTE_CHARS`
/// characters, and `…` after the quote when it was cut. A 60,000-character
/// name must not come back whole in a 400.
pub fn quote(input: &str) -> String {
    match input.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{:?}…", &input[..cut]),
        None => format!("{input:?}"),
    }
}

/// A name (a field, a header, a query parameter) taken from the request and
/// used as an error's `source`: cut to `QUOTE_CHARS` characters, unquoted.
pub fn clip(input: &str) -> &str {
    match input.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => &input[..cut],
        None => input,
    }
}

fn clean_name(raw: &str, source: &str, max: usize) -> Result<String, Invalid> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(Invalid::new(source, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(Invalid::new(
            source,
            format!("must be at most {max} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Invalid::new(source, "must not contain control characters"));
    }
    Ok(s.to_owned())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(raw: &str, source: &str) -> Result<Self, Invalid> {
                clean_name(raw, source, $max).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A scoped key's name, trimmed, 1–100 characters.
    KeyName,
    100
);
name_type!(
    /// An organization's or account's name, trimmed, 1–100 characters.
    DisplayName,
    100
);

/// An email address, trimmed and lowercased. Only the shape is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str, source: &str) -> Result<Email, Invalid> {
        let s = raw.trim().to_lowercase();
        let bad = || Invalid::new(source, "must be an email address like name@example.com");
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let ok = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && s.len() <= 254
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>\",;".contains(c));
        if ok { Ok(Email(s)) } else { Err(bad()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password. NIST SP 800-63B rev. 4 for password-only sign-in: at least 15
/// characters, at most 256 (so hashing cost stays bounded), no composition
/// rules, and never truncated. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN_CHARS: usize = 15;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(raw: &str, source: &str) -> Result<NewPassword, Invalid> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(Invalid::new(
                source,
                format!("must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(Invalid::new(
                source,
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(NewPassword(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            KeyName::parse("  billing-sync ", "name").unwrap().as_str(),
            "billing-sync"
        );
        assert_eq!(KeyName::parse("   ", "name").unwrap_err().source, "name");
        assert!(KeyName::parse(&"x".repeat(101), "name").is_err());
        assert!(KeyName::parse("a\u{0}b", "name").is_err());
        let long = "é".repeat(60_000);
        assert_eq!(quote(&long).chars().count(), QUOTE_CHARS + 3);
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        assert_eq!(clip(&long).chars().count(), QUOTE_CHARS);
    }

    #[test]
    fn emails_are_lowercased_and_shape_checked() {
        assert_eq!(
            Email::parse(" Owner@Acme.TEST ", "email").unwrap().as_str(),
            "owner@acme.test"
        );
        for bad in [
            "",
            "owner",
            "owner@",
            "@acme.test",
            "a@b",
            "a b@c.d",
            "a@b@c.d",
        ] {
            assert!(Email::parse(bad, "email").is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_need_15_to_256_characters_and_are_kept_whole() {
        assert!(NewPassword::parse(&"a".repeat(14), "password").is_err());
        let long = "é".repeat(256);
        assert_eq!(
            NewPassword::parse(&long, "password").unwrap().expose(),
            long
        );
        assert!(NewPassword::parse(&"a".repeat(257), "password").is_err());
        let p = NewPassword::parse("correct-horse-battery", "password").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
