//! Handlers: extract, authorize (in the extractor), call one service function,
//! map to a response.

pub mod audit;
pub mod keys;
pub mod login;
pub mod orgs;
pub mod sessions;
pub mod two_factor;
pub mod webhooks;

use keygate_core::ClientId;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;

/// A client id from the path; one that cannot exist is simply not found.
pub fn client_id(s: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(s).map_err(|_| ApiError::NotFound)
}

/// Query-string parameters, with bad values reported as `validation_error`.
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::validation("query", format!("bad query parameters: {e}")))
}
