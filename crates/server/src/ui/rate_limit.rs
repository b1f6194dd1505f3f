//! The two rate-limit fields (requests, per seconds) of the key form and of
//! the organization's default on the settings page: what was typed, back with
//! each error beside its field, and a limit in words. The rule itself is
//! core's `RateLimit::new`, the one the JSON API's `rate_limit` goes through.

use keygate_core::RateLimit;

use crate::service::Error;
use crate::service::keys::LimitChange;

/// The form's field names.
pub const REQUESTS: &str = "rate_limit_requests";
pub const PER_SECONDS: &str = "rate_limit_per_seconds";

/// The two fields as typed (or as stored), with what is wrong with each.
#[derive(Clone, Default)]
pub struct LimitFields {
    pub requests: String,
    pub per_seconds: String,
    pub requests_error: Option<String>,
    pub per_seconds_error: Option<String>,
}

impl LimitFields {
    pub fn posted(requests: Option<&str>, per_seconds: Option<&str>) -> LimitFields {
        LimitFields {
            requests: requests.unwrap_or("").trim().to_owned(),
            per_seconds: per_seconds.unwrap_or("").trim().to_owned(),
            ..LimitFields::default()
        }
    }

    pub fn of(limit: Option<RateLimit>) -> LimitFields {
        match limit {
            Some(l) => LimitFields {
                requests: l.requests.to_string(),
                per_seconds: l.per_seconds.to_string(),
                ..LimitFields::default()
            },
            None => LimitFields::default(),
        }
    }

    /// Both empty: no limit. Otherwise the limit, checked; an error names
    /// `rate_limit.requests` or `rate_limit.per_seconds`. What is not a whole
    /// number (or is empty beside a filled field) is out of range.
    pub fn limit(&self) -> Result<Option<RateLimit>, Error> {
        if self.requests.is_empty() && self.per_seconds.is_empty() {
            return Ok(None);
        }
        let number = |s: &str| s.parse::<i64>().unwrap_or(0);
        let limit = RateLimit::new(
            number(&self.requests),
            number(&self.per_seconds),
            "rate_limit",
        )?;
        Ok(Some(limit))
    }

    /// An edit: the fields say what the limit is from now on (empty clears).
    pub fn change(&self) -> Result<LimitChange, Error> {
        Ok(match self.limit()? {
            Some(l) => LimitChange::Set(l),
            None => LimitChange::Clear,
        })
    }

    /// Puts an error of a `rate_limit.…` field beside that field.
    /// Checks both numbers at once, each error beside its field: the change
    /// to make, or `None` when a number is wrong.
    pub fn checked(&mut self) -> Option<LimitChange> {
        if let Ok(c) = self.change() {
            return Some(c);
        }
        let number = |s: &str| s.parse::<i64>().unwrap_or(0);
        let parts = [
            RateLimit::new(number(&self.requests), 1, "rate_limit"),
            RateLimit::new(1, number(&self.per_seconds), "rate_limit"),
        ];
        for part in parts {
            if let Err(e) = part
                && let Error::Invalid { field, message } = Error::from(e)
            {
                self.show_error(&field, &message);
            }
        }
        None
    }

    pub fn show_error(&mut self, field: &str, message: &str) {
        if field == "rate_limit.per_seconds" {
            self.per_seconds_error = Some(format!("Per seconds: {message}."));
        } else {
            self.requests_error = Some(format!("Requests: {message}."));
        }
    }
}

/// "5 requests per 60 seconds", "1 request per second".
pub fn words(l: RateLimit) -> String {
    let requests = match l.requests {
        1 => "1 request".to_owned(),
        n => format!("{n} requests"),
    };
    match l.per_seconds {
        1 => format!("{requests} per second"),
        n => format!("{requests} per {n} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: &str, p: &str) -> LimitFields {
        LimitFields::posted(Some(r), Some(p))
    }

    #[test]
    fn empty_fields_are_no_limit_and_filled_ones_a_checked_limit() {
        assert_eq!(fields(" ", "").limit().unwrap(), None);
        assert_eq!(
            fields("5", " 60 ").limit().unwrap(),
            Some(RateLimit::new(5, 60, "rate_limit").unwrap())
        );
        assert_eq!(fields("", "").change().unwrap(), LimitChange::Clear);
    }

    #[test]
    fn a_bad_or_missing_number_is_named_by_its_field() {
        let field = |r: &str, p: &str| match fields(r, p).limit() {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{:?}", other.map(|_| ())),
        };
        assert_eq!(field("0", "60"), "rate_limit.requests");
        assert_eq!(field("", "60"), "rate_limit.requests");
        assert_eq!(field("ten", "60"), "rate_limit.requests");
        assert_eq!(field("5", ""), "rate_limit.per_seconds");
        assert_eq!(field("5", "86401"), "rate_limit.per_seconds");
    }

    #[test]
    fn both_bad_numbers_are_reported_at_once() {
        let mut f = fields("0", "86401");
        assert!(f.checked().is_none());
        assert!(f.requests_error.is_some() && f.per_seconds_error.is_some());
        assert_eq!(
            fields("5", "60").checked(),
            Some(LimitChange::Set(
                RateLimit::new(5, 60, "rate_limit").unwrap()
            ))
        );
    }

    #[test]
    fn limits_read_as_words() {
        let l = |r, p| RateLimit::new(r, p, "rate_limit").unwrap();
        assert_eq!(words(l(5, 60)), "5 requests per 60 seconds");
        assert_eq!(words(l(1, 1)), "1 request per second");
    }
}
