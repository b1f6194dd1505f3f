//! Handlers: extract, authorize (in the extractor), call one service function,
//! map to a response.

pub mod audit;
pub mod audit_streams;
pub mod health;
pub mod key_policy;
pub mod keys;
pub mod leaks;
pub mod login;
pub mod metrics;
pub mod oauth;
pub mod operator;
pub mod operator_webhooks;
pub mod orgs;
pub mod passkeys;
pub mod people;
pub mod plans;
pub mod sessions;
pub mod sso;
pub mod two_factor;
pub mod usage;
pub mod webhooks;

use keygate_core::ClientId;
use keygate_core::text::{clip, quote};
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;

/// A client id from the path; one that cannot exist is simply not found.
pub fn client_id(s: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(s).map_err(|_| ApiError::NotFound)
}

/// Query-string parameters, with bad values reported as `validation_error`.
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    query_described(raw, &[])
}

/// Like `query`, with what each parameter must be (`("limit", "a whole number
/// from 1 to 200")`) for the message about a bad value. Errors speak of the
/// API's parameters, never of the parser, and quote at most ~100 characters:
/// `unknown query parameter "a"`, `limit must be a whole number from 1 to 200`.
pub fn query_described<T: DeserializeOwned>(
    raw: Option<&str>,
    described: &[(&str, &str)],
) -> Result<T, ApiError> {
    let raw = raw.unwrap_or("");
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|_| ApiError::validation("query", "the query string is not valid URL encoding"))?;
    // Each parameter alone first (every field is optional), so a failure
    // names its parameter; then all together.
    for (i, (name, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return Err(ApiError::validation(
                clip(name),
                format!("query parameter {} is given twice", quote(name)),
            ));
        }
        let one = serde_urlencoded::to_string([&pairs[i]]).unwrap_or_default();
        if let Err(e) = serde_urlencoded::from_str::<T>(&one) {
            return Err(if e.to_string().starts_with("unknown field") {
                ApiError::validation(
                    clip(name),
                    format!("unknown query parameter {}", quote(name)),
                )
            } else {
                bad_value(name, described)
            });
        }
    }
    serde_urlencoded::from_str(raw)
        .map_err(|_| ApiError::validation("query", "the query parameters do not fit together"))
}

/// `{name} must be {description}`, for a parameter the caller described.
pub fn bad_value(name: &str, described: &[(&str, &str)]) -> ApiError {
    match described.iter().find(|(n, _)| *n == name) {
        Some((n, what)) => ApiError::validation(n, format!("{n} must be {what}")),
        None => ApiError::validation(
            clip(name),
            format!(
                "query parameter {} has a value that is not valid",
                quote(name)
            ),
        ),
    }
}
