//! Secret-scanning bodies, in the reporters' own formats: GitHub's secret
//! scanning partner program and GitLab's token revocation API.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The one token type Keygate answers for.
pub const TOKEN_TYPE: &str = "keygate_api_key";

/// One match in a GitHub report. Fields GitHub may add later are ignored.
#[derive(Deserialize, ToSchema)]
pub struct GithubMatch {
    /// The string that was found.
    pub token: String,
    /// The token type registered with GitHub (`keygate_api_key`).
    #[serde(rename = "type")]
    pub token_type: String,
    /// Where it was found.
    #[serde(default)]
    pub url: Option<String>,
    /// The kind of place (`content`, `commit`, `pull_request_comment`, …).
    #[serde(default)]
    pub source: Option<String>,
}

/// GitHub's label of one token: `true_positive` for a live Keygate key,
/// `false_positive` otherwise.
#[derive(Serialize, ToSchema)]
pub struct GithubLabel {
    /// The token as reported (GitHub's format echoes it).
    pub token_raw: String,
    pub token_type: String,
    pub label: &'static str,
}

/// One token in a GitLab revocation request.
#[derive(Deserialize, ToSchema)]
pub struct GitlabToken {
    #[serde(rename = "type")]
    pub token_type: String,
    pub token: String,
    /// Where it was found.
    #[serde(default)]
    pub location: Option<String>,
}

/// `GET /secret-scanning/gitlab/v1/revocable_token_types`.
#[derive(Serialize, ToSchema)]
pub struct GitlabTokenTypes {
    /// `["keygate_api_key"]`.
    pub types: Vec<&'static str>,
}
