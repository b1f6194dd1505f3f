//! The key fields an admin key's Generate and Regenerate offer (expiry,
//! allowlist, rate limit): what was typed or stored, each error beside its
//! field. The scoped key form shows the same fields; both are checked by the
//! same code (`routes::keys::form::FormValues`, `rate_limit::LimitFields`).

use keygate_core::RateLimit;
use keygate_core::time::format_rfc3339;
use keygate_store::KeyRecord;

use crate::ui::rate_limit::{self, LimitFields};

/// The three fields as typed (or as the key has them), with their errors.
#[derive(Clone, Default)]
pub struct TermsFields {
    /// `datetime-local` (`YYYY-MM-DDTHH:MM:SS`, taken as UTC), empty for none.
    pub expires_at: String,
    pub expires_error: Option<String>,
    /// One network per line.
    pub networks: String,
    /// One entry per bad line (or the key policy's sentence).
    pub network_errors: Vec<String>,
    pub limit: LimitFields,
    /// What leaving the rate limit empty means (the organization's default).
    pub limit_hint: String,
}

impl TermsFields {
    pub fn blank(org_default: Option<RateLimit>) -> TermsFields {
        TermsFields {
            limit_hint: limit_hint(org_default),
            ..TermsFields::default()
        }
    }

    /// The key's current values: what a plain Regenerate keeps.
    pub fn of_key(k: &KeyRecord, org_default: Option<RateLimit>) -> TermsFields {
        TermsFields {
            expires_at: expiry_field(k.expires_at),
            networks: k.allowed_networks.to_strings().join("\n"),
            limit: LimitFields::of(k.rate_limit),
            ..TermsFields::blank(org_default)
        }
    }

    /// Puts an error of one of these fields beside it; `false` when the
    /// error is about something else.
    pub fn show_error(&mut self, field: &str, message: &str) -> bool {
        if field == "expires_at" {
            self.expires_error = Some(format!("Expires: {}", sentence(message).to_lowercase()));
        } else if field.starts_with("rate_limit") {
            self.limit.show_error(field, message);
        } else if field.starts_with("allowed_networks") {
            self.network_errors = network_errors(message);
        } else {
            return false;
        }
        true
    }
}

impl TermsFields {
    /// The errors `show_error` placed for `field`, for a form's summary:
    /// (the input's id, the message).
    pub fn errors_of(&self, field: &str) -> Vec<(String, String)> {
        let one = |id: &str, e: &Option<String>| -> Vec<(String, String)> {
            e.iter().map(|m| (id.to_owned(), m.clone())).collect()
        };
        if field == "expires_at" {
            one("expires_at", &self.expires_error)
        } else if field.starts_with("rate_limit") {
            let mut out = one("rate_limit_requests", &self.limit.requests_error);
            out.extend(one("rate_limit_per_seconds", &self.limit.per_seconds_error));
            out
        } else {
            self.network_errors
                .iter()
                .map(|m| {
                    (
                        "allowed_networks".to_owned(),
                        format!("Allowed networks: {m}"),
                    )
                })
                .collect()
        }
    }
}

/// An expiry as the `datetime-local` field shows it (UTC, to the second).
pub fn expiry_field(at: Option<i64>) -> String {
    at.map(|t| format_rfc3339(t)[..19].to_owned())
        .unwrap_or_default()
}

/// The allowlist's error as one entry per bad line (see
/// `FormValues::terms`), or the policy's sentence.
pub fn network_errors(message: &str) -> Vec<String> {
    message
        .lines()
        .map(|l| sentence(l.trim_end_matches('.')))
        .collect()
}

/// A service message as a sentence: capital first letter, final stop.
pub fn sentence(message: &str) -> String {
    let mut c = message.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}

/// What the rate limit means, and what leaving it empty does.
pub fn limit_hint(org_default: Option<RateLimit>) -> String {
    let default = match org_default {
        Some(l) => format!(
            "the organization default then applies: {}",
            rate_limit::words(l)
        ),
        None => "the organization default then applies, and none is set".to_owned(),
    };
    format!(
        "At most this many token checks (gateway and forward-auth) per window; past it, calls get 429 with Retry-After. Leave both empty for no limit of the key's own: {default}."
    )
}
