//! Leaked keys: what an organization does when one of its live keys is reported
//! found in public (secret scanning), and how a report's location is kept.

use std::fmt;

use crate::text::Invalid;

/// The organization's answer to a live key reported leaked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnLeak {
    /// Delete the key at once: logins with it fail from the next request on.
    #[default]
    Revoke,
    /// Keep the key working, mark it exposed, and tell the owners and admins.
    Notify,
}

impl OnLeak {
    pub fn as_str(self) -> &'static str {
        match self {
            OnLeak::Revoke => "revoke",
            OnLeak::Notify => "notify",
        }
    }

    /// `source` names the field in the refusal.
    pub fn parse(raw: &str, source: &str) -> Result<OnLeak, Invalid> {
        match raw {
            "revoke" => Ok(OnLeak::Revoke),
            "notify" => Ok(OnLeak::Notify),
            _ => Err(Invalid::new(source, "must be \"revoke\" or \"notify\"")),
        }
    }
}

impl fmt::Display for OnLeak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest location (URL) or source text of a report that is kept; longer
/// ones are cut (they end up in mails, webhooks and the audit log).
pub const MAX_REPORT_TEXT: usize = 500;

/// A reporter's free text (where a key was found, what kind of place), kept
/// printable and short: control characters dropped, at most
/// [`MAX_REPORT_TEXT`] characters.
pub fn report_text(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_control())
        .take(MAX_REPORT_TEXT)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_leak_round_trips_and_refuses_other_words() {
        for v in [OnLeak::Revoke, OnLeak::Notify] {
            assert_eq!(OnLeak::parse(v.as_str(), "on_leak"), Ok(v));
        }
        let e = OnLeak::parse("delete", "on_leak").unwrap_err();
        assert_eq!(e.source, "on_leak");
        assert_eq!(OnLeak::default(), OnLeak::Revoke);
    }

    #[test]
    fn report_text_drops_control_characters_and_is_bounded() {
        assert_eq!(report_text("a\nb\u{7}c"), "abc");
        assert_eq!(report_text(&"x".repeat(2000)).len(), MAX_REPORT_TEXT);
    }
}
