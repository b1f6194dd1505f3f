//! Leaked-key intake: GitHub's secret scanning partner format and GitLab's
//! token revocation API. Reports are checked (signature or bearer token)
//! before their body is parsed; the secrets in them are never logged.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use bytes::Bytes;

use crate::http::dto::leaks::{
    GithubLabel, GithubMatch, GitlabToken, GitlabTokenTypes, TOKEN_TYPE,
};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ClientInfo, parse_json, unread_body};
use crate::middleware::access::bearer;
use crate::middleware::headers;
use crate::service::leaks::{self, Report, Reporter};
use crate::state::app::AppState;
use crate::state::audit::Actor;

static KEY_IDENTIFIER: HeaderName = HeaderName::from_static("github-public-key-identifier");
static KEY_SIGNATURE: HeaderName = HeaderName::from_static("github-public-key-signature");

/// A signature header; sent twice is refused (400), never read as the first.
fn header<'a>(h: &'a HeaderMap, name: &'static HeaderName) -> Result<Option<&'a str>, ApiError> {
    Ok(headers::one(h, name)?.and_then(|v| v.to_str().ok()))
}

fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(unread_body)
}

/// The reporter as the audit log shows it: its address, no user.
fn reporter(client: ClientInfo) -> Actor {
    Actor {
        ip: Some(client.ip),
        user_agent: client.user_agent,
        ..Actor::default()
    }
}

/// GitHub secret scanning: a JSON array of matches, signed by GitHub (ECDSA
/// P-256 / SHA-256 over the raw body, base64 DER in `Github-Public-Key-Signature`,
/// the key named by `Github-Public-Key-Identifier` in `--github-scanning-keys`).
/// A live key is revoked or flagged (the organization's `on_leak`) and the
/// owners and admins are told (`api_key.exposed`). Off (404) without
/// `--github-scanning-keys`; at most 60 requests a minute per address.
#[utoipa::path(post, path = "/secret-scanning/github", tag = "secret-scanning",
    request_body = Vec<GithubMatch>,
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "Which of GitHub's keys signed the body"),
        ("Github-Public-Key-Signature" = String, Header, description = "Base64 of the DER ECDSA P-256 / SHA-256 signature of the raw body"),
    ),
    responses(
        (status = 200, body = Vec<GithubLabel>, description = "One label per match, in order: `true_positive` for a live Keygate key, else `false_positive`"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody, description = "Missing or bad signature, or an unknown key identifier; nothing was done"),
        (status = 404, body = ErrorBody, description = "Started without `--github-scanning-keys`"),
        (status = 429, body = ErrorBody)))]
pub async fn github(
    State(app): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Vec<GithubLabel>>, ApiError> {
    let raw = body(raw)?;
    leaks::check_github(
        &app,
        &client.ip,
        header(&headers, &KEY_IDENTIFIER)?,
        header(&headers, &KEY_SIGNATURE)?,
        &raw,
    )?;
    let matches: Vec<GithubMatch> = parse_json(&raw)?;
    let reports: Vec<Report> = matches
        .iter()
        .map(|m| Report {
            token: m.token.clone(),
            location: m.url.clone(),
            source: m.source.clone(),
        })
        .collect();
    let live = leaks::intake(&app, Reporter::GitHub, &reporter(client), &reports).await?;
    Ok(Json(
        matches
            .into_iter()
            .zip(live)
            .map(|(m, live)| GithubLabel {
                token_raw: m.token,
                token_type: m.token_type,
                label: if live {
                    "true_positive"
                } else {
                    "false_positive"
                },
            })
            .collect(),
    ))
}

/// GitLab token revocation: the token types Keygate revokes. Callers send
/// `Authorization: Bearer <--gitlab-revocation-token>`; off (404) without it.
#[utoipa::path(get, path = "/secret-scanning/gitlab/v1/revocable_token_types", tag = "secret-scanning",
    responses((status = 200, body = GitlabTokenTypes), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "Started without `--gitlab-revocation-token`"),
              (status = 429, body = ErrorBody)))]
pub async fn gitlab_types(
    State(app): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
) -> Result<Json<GitlabTokenTypes>, ApiError> {
    leaks::check_gitlab(&app, &client.ip, bearer(&headers))?;
    Ok(Json(GitlabTokenTypes {
        types: vec![TOKEN_TYPE],
    }))
}

/// GitLab token revocation: leaked tokens to revoke. Live Keygate keys are
/// revoked or flagged (the organization's `on_leak`) and the owners and admins
/// are told (`api_key.exposed`); anything else is ignored. Idempotent.
#[utoipa::path(post, path = "/secret-scanning/gitlab/v1/revoke_tokens", tag = "secret-scanning",
    request_body = Vec<GitlabToken>,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "Started without `--gitlab-revocation-token`"),
              (status = 429, body = ErrorBody)))]
pub async fn gitlab_revoke(
    State(app): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let raw = body(raw)?;
    leaks::check_gitlab(&app, &client.ip, bearer(&headers))?;
    let tokens: Vec<GitlabToken> = parse_json(&raw)?;
    let reports: Vec<Report> = tokens
        .into_iter()
        .map(|t| Report {
            token: t.token,
            location: t.location,
            source: None,
        })
        .collect();
    leaks::intake(&app, Reporter::GitLab, &reporter(client), &reports).await?;
    Ok(StatusCode::NO_CONTENT)
}
