//! The scoped key form's credits: what is left and the optional refill, as
//! typed, turned into the JSON API's `credits` value for the service to
//! check. An edit whose fields still show what the page showed keeps the
//! key's credits (and what was used of them since).

use keygate_core::credits::Credits;
use serde_json::{Value, json};

use crate::ui::extract::FormBody;

pub const REMAINING: &str = "credits_remaining";
pub const AMOUNT: &str = "credits_refill_amount";
pub const PERIOD: &str = "credits_refill_period";
const SHOWN: &str = "credits_shown";

/// The three fields as typed (or as the key has them) and their error.
#[derive(Clone, Default)]
pub struct CreditFields {
    /// Empty: no credits.
    pub remaining: String,
    /// Empty: no refill.
    pub amount: String,
    /// `day`, `month`, or empty.
    pub period: String,
    /// The three as the page first showed them (a hidden field).
    pub shown: String,
    pub error: Option<String>,
}

impl CreditFields {
    /// The key's credits as the form shows them, with `remaining` left now.
    pub fn of(c: Option<&Credits>, remaining: i64) -> CreditFields {
        let mut f = CreditFields::default();
        if let Some(c) = c {
            f.remaining = remaining.to_string();
            if let Some(r) = c.refill {
                f.amount = r.amount.to_string();
                f.period = r.period.as_str().to_owned();
            }
        }
        f.shown = f.joined();
        f
    }

    pub fn posted(form: &FormBody) -> CreditFields {
        let get = |k: &str| form.get(k).unwrap_or("").trim().to_owned();
        CreditFields {
            remaining: get(REMAINING),
            amount: get(AMOUNT),
            period: get(PERIOD),
            shown: form.get(SHOWN).unwrap_or("").to_owned(),
            error: None,
        }
    }

    fn joined(&self) -> String {
        format!("{}|{}|{}", self.remaining, self.amount, self.period)
    }

    /// The `credits` value to send: null for an empty field; numbers that do
    /// not parse go as text, for the service to name the field.
    pub fn value(&self) -> Option<Value> {
        if self.remaining.is_empty() && self.amount.is_empty() {
            return None;
        }
        let num = |s: &str| s.parse::<i64>().map_or_else(|_| json!(s), |n| json!(n));
        let mut v = json!({"remaining": num(&self.remaining)});
        if !self.amount.is_empty() || !self.period.is_empty() {
            v["refill"] = json!({"amount": num(&self.amount), "period": self.period});
        }
        Some(v)
    }

    /// An edit's change: `None` when the fields still show what the page
    /// showed.
    pub fn change(&self) -> Option<Option<Value>> {
        (self.joined() != self.shown).then(|| self.value())
    }

    pub fn show_error(&mut self, message: &str) {
        self.error = Some(format!(
            "Credits: {}",
            crate::ui::key_terms::sentence(message).to_lowercase()
        ));
    }
}
