//! The Developer app: server-rendered HTML for people, under `/app`.
//!
//! Settings → Developer → API keys follows the reference page step by step.
//! Every flow is a plain form (POST, then redirect) and works without
//! JavaScript; `static/app.js` only adds the copy buttons, the password
//! dialogs and small conveniences. Handlers call the same services as the
//! JSON API. CSS and JS are ours, compiled into the binary.

pub mod csrf;
pub mod extract;
pub mod pages;
mod routes;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use keygate_core::crypto::Pepper;

use crate::app::AppState;
use routes::{auth, keys, org, people};

/// State of the Developer app that lives beside `App`.
pub struct UiState {
    pub tokens: csrf::FormTokens,
}

impl UiState {
    pub fn new(pepper: &Pepper) -> UiState {
        UiState {
            tokens: csrf::FormTokens::new(pepper),
        }
    }
}

/// No inline script or style anywhere: everything comes from our own files.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("static/app.css");
const JS: &str = include_str!("static/app.js");

pub fn router() -> Router<AppState> {
    let org = "/app/orgs/{org_id}/settings";
    let keys_at = format!("{org}/developer/api-keys");
    Router::new()
        .route("/", get(auth::root))
        .route("/app", get(auth::home))
        .route("/app/", get(auth::home))
        .route("/app/sign-in", get(auth::sign_in_page).post(auth::sign_in))
        .route("/app/sign-out", post(auth::sign_out))
        .route("/app/static/app.css", get(css))
        .route("/app/static/app.js", get(js))
        .route("/app/orgs/{org_id}", get(auth::landing))
        .route(org, get(org::settings))
        .route(&format!("{org}/developer"), get(keys::developer))
        .route(&keys_at, get(keys::list))
        .route(
            &format!("{keys_at}/generate"),
            get(keys::generate_page).post(keys::generate),
        )
        .route(
            &format!("{keys_at}/new"),
            get(keys::new_page).post(keys::create),
        )
        .route(
            &format!("{keys_at}/{{client_id}}/regenerate"),
            get(keys::regenerate_page).post(keys::regenerate),
        )
        .route(
            &format!("{keys_at}/{{client_id}}/duplicate"),
            get(keys::duplicate_page).post(keys::duplicate),
        )
        .route(
            &format!("{keys_at}/{{client_id}}/edit"),
            get(keys::edit_page).post(keys::edit),
        )
        .route(
            &format!("{keys_at}/{{client_id}}/delete"),
            get(keys::delete_page).post(keys::delete),
        )
        .route(&format!("{org}/developer/audit-log"), get(org::audit))
        .route(
            &format!("{org}/members"),
            get(people::members).post(people::add_member),
        )
        .route(
            &format!("{org}/members/{{user_id}}/role"),
            post(people::change_role),
        )
        .route(
            &format!("{org}/members/{{user_id}}/remove"),
            post(people::remove_member),
        )
        .route(
            &format!("{org}/accounts"),
            get(people::accounts).post(people::create_account),
        )
        .route("/app/{*rest}", get(not_found))
        .layer(middleware::from_fn(html_headers))
}

async fn not_found() -> extract::PageError {
    extract::PageError(crate::http::error::ApiError::NotFound)
}

async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Marks the request as the app's (its session is the cookie, see
/// `AppCookieAuth`); the app's own CSP (the API's `default-src 'none'` would
/// block our CSS and JS), and no caching of any page: they show keys and tokens.
async fn html_headers(mut req: Request, next: Next) -> Response {
    req.extensions_mut()
        .insert(crate::http::extract::AppCookieAuth);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}
