//! Every error of a posted form at once, the one way every form of the app
//! reports them: each message beside its field and all of them in a summary
//! at the top of the page (`error_summary.html`), each linking to its field;
//! `app.js` moves focus to the summary. A handler first checks what it can
//! by itself (fields left empty, two new passwords that differ), then asks
//! the service only when that found nothing, and places the service's answer
//! on its field too; so one post lists every problem the page can see.

use axum::http::StatusCode;
use keygate_core::text::NewPassword;

use crate::service::Error;
use crate::ui::extract::{FormBody, PageError};
use crate::ui::rate_limit::{self, LimitFields};

/// The errors of one posted form: (the input's id, or empty when the error
/// belongs to no field; the message), in the page's order of fields.
#[derive(Clone, Default)]
pub struct FormErrors {
    list: Vec<(String, String)>,
    status: Option<StatusCode>,
}

impl FormErrors {
    pub fn new() -> FormErrors {
        FormErrors::default()
    }

    /// One error, for the field whose input has the id `id` ("" for none).
    pub fn add(&mut self, id: &str, message: impl Into<String>) {
        self.list.push((id.to_owned(), message.into()));
    }

    /// The page's status when it is not 400 (a wrong password: 401).
    pub fn set_status(&mut self, status: StatusCode) {
        self.status = Some(status);
    }

    /// Adds `other`'s errors after these (and its status, if it has one).
    pub fn extend(&mut self, other: FormErrors) {
        self.list.extend(other.list);
        self.status = other.status.or(self.status);
    }

    /// `message` for the input `id` (named the same) when it was sent empty.
    pub fn require(&mut self, form: &FormBody, id: &str, message: &str) {
        if form.get(id).is_none_or(|v| v.trim().is_empty()) {
            self.add(id, message);
        }
    }

    /// A new password typed twice (inputs `id` and `again`): the password
    /// rule on the first, the match on the second.
    pub fn new_password(&mut self, form: &FormBody, id: &str, again: &str) {
        let new = form.get(id).unwrap_or("");
        if new.is_empty() {
            self.add(
                id,
                format!(
                    "New password: choose one of {} characters or more.",
                    NewPassword::MIN_CHARS
                ),
            );
        } else if let Err(e) = NewPassword::parse(new, id) {
            self.add(id, format!("New password: {}.", e.message));
        }
        match form.get(again).unwrap_or("") {
            "" => self.add(
                again,
                "New password again: type the new password a second time.",
            ),
            a if a != new => self.add(
                again,
                "New password again: the two passwords are not the same.",
            ),
            _ => {}
        }
    }

    /// The rate limit fields' errors (shown beside them by
    /// `rate_limit_fields.html`), for the summary.
    pub fn limit(&mut self, lim: &LimitFields) {
        if let Some(e) = &lim.requests_error {
            self.add(rate_limit::REQUESTS, e.clone());
        }
        if let Some(e) = &lim.per_seconds_error {
            self.add(rate_limit::PER_SECONDS, e.clone());
        }
    }

    /// A service's refusal on its field: a wrong password (or too many
    /// tries, or a busy server) on `password`; an invalid value on the input
    /// `fields` maps its field to (`(service field, input id, label)`), else
    /// on none. Anything else is not the form's problem: `Err`.
    pub fn place(&mut self, e: Error, fields: &[(&str, &str, &str)]) -> Result<(), PageError> {
        if let Some((status, msg)) = password_error(&e) {
            self.status = Some(status);
            self.add("password", msg);
            return Ok(());
        }
        match e {
            Error::Invalid { field, message } => {
                let msg = sentence(&message);
                match fields.iter().find(|(f, _, _)| field.starts_with(f)) {
                    Some((_, id, label)) => self.add(id, format!("{label}: {}", lower_first(&msg))),
                    None => self.add("", msg),
                }
                Ok(())
            }
            e => Err(e.into()),
        }
    }

    /// The first message of the input `id`, shown beside it.
    pub fn of(&self, id: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, m)| m.as_str())
    }

    /// The messages that belong to no field (shown in the summary only).
    pub fn general(&self) -> Vec<&str> {
        self.list
            .iter()
            .filter(|(i, _)| i.is_empty())
            .map(|(_, m)| m.as_str())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Every error, for `error_summary.html`.
    pub fn summary(&self) -> &[(String, String)] {
        &self.list
    }

    /// The page's status: 400, or the password check's own (401, 429, 503).
    pub fn status(&self) -> StatusCode {
        if self.list.is_empty() {
            StatusCode::OK
        } else {
            self.status.unwrap_or(StatusCode::BAD_REQUEST)
        }
    }

    /// The errors in the order of the page's fields (`order`: input ids;
    /// errors of other fields first).
    pub fn sort(&mut self, order: &[&str]) {
        self.list
            .sort_by_key(|(id, _)| order.iter().position(|o| o == id).map_or(0, |p| p + 1));
    }
}

/// A service message as a sentence: `is too long` → `Is too long.` (one
/// final stop, never two).
pub fn sentence(message: &str) -> String {
    let mut c = message.trim().chars();
    let mut s: String = match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => return String::new(),
    };
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// A failed password confirmation as a message next to the password field.
pub fn password_error(e: &Error) -> Option<(StatusCode, String)> {
    match e {
        Error::PasswordRejected => Some((
            StatusCode::UNAUTHORIZED,
            "That password is not correct. Nothing was changed.".into(),
        )),
        Error::TooManyAttempts { retry_after_secs } => Some((
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many wrong passwords. Try again in {} minute(s).",
                retry_after_secs.div_ceil(60)
            ),
        )),
        Error::Busy { .. } => Some((
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is busy. Nothing was changed; try again in a few seconds.".into(),
        )),
        _ => None,
    }
}

/// `That password…` → `that password…`, for a message after a label.
fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_kept_in_the_order_of_the_fields() {
        let form = FormBody(vec![
            ("name".into(), " ".into()),
            ("email".into(), "a@b".into()),
        ]);
        let mut e = FormErrors::new();
        e.add("password", "Enter your password.");
        e.require(&form, "name", "Enter a name.");
        e.require(&form, "email", "Enter an email.");
        e.require(&form, "missing", "Enter it.");
        e.sort(&["name", "missing", "password"]);
        let ids: Vec<&str> = e.summary().iter().map(|(i, _)| i.as_str()).collect();
        assert_eq!(ids, ["name", "missing", "password"]);
        assert_eq!(e.of("name"), Some("Enter a name."));
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_wrong_password_keeps_its_status() {
        let mut e = FormErrors::new();
        e.place(Error::PasswordRejected, &[]).unwrap();
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
        assert!(e.of("password").is_some());
        e.place(
            Error::Invalid {
                field: "name".into(),
                message: "is too long".into(),
            },
            &[("name", "name", "Account name")],
        )
        .unwrap();
        assert_eq!(e.of("name"), Some("Account name: is too long."));
        assert_eq!(sentence("no. 1."), "No. 1.");
    }
}
