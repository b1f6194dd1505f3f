//! The Developer app: server-rendered HTML for people, under `/app`.
//!
//! Settings → Developer → API keys follows the reference page step by step.
//! Every flow is a plain form (POST, then redirect) and works without
//! JavaScript; `static/app.js` only adds the copy buttons, the password
//! dialogs and small conveniences. Handlers call the same services as the
//! JSON API. CSS and JS are ours, compiled into the binary.

pub mod chart;
pub mod csrf;
pub mod extract;
pub mod form_errors;
pub mod key_terms;
pub mod layout;
pub mod rate_limit;
mod routes;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::state::app::{App, AppState};
use routes::{
    keys, org, passkeys, people, personal, security, sign_in, sso, sso_settings, two_factor, usage,
};

/// The Developer app's router state: the shared `App`, plus the form tokens
/// that only the app uses. Derefs to `App`, so services take it as one.
#[derive(Clone)]
pub struct Pages {
    app: AppState,
    pub forms: Arc<csrf::FormTokens>,
}

impl Pages {
    pub fn new(app: AppState) -> Pages {
        let forms = Arc::new(csrf::FormTokens::new(&app.pepper));
        Pages { app, forms }
    }
}

impl Deref for Pages {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl FromRef<Pages> for AppState {
    fn from_ref(p: &Pages) -> AppState {
        p.app.clone()
    }
}

/// No inline script or style anywhere: everything comes from our own files.
/// `connect-src 'self'`: the passkey script fetches its options from us.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("static/app.css");
const JS: &str = include_str!("static/app.js");
const PASSKEYS_JS: &str = include_str!("static/passkeys.js");

/// The Developer app's routes, with their own state.
pub fn router(app: AppState) -> Router {
    let org = "/app/orgs/{org_id}/settings";
    let keys_at = format!("{org}/developer/api-keys");
    Router::new()
        .route("/", get(sign_in::root))
        .route("/app", get(sign_in::home))
        .route("/app/", get(sign_in::home))
        .route(
            "/app/sign-in",
            get(sign_in::sign_in_page).post(sign_in::sign_in),
        )
        .route("/app/sign-in/two-factor", post(sign_in::sign_in_code))
        .route("/app/sso/start", get(sso::start))
        .route("/app/sso/callback", get(sso::callback))
        .route("/app/sign-in/passkey", post(passkeys::sign_in))
        .route("/app/sign-out", post(sign_in::sign_out))
        .route("/app/security/two-factor", get(two_factor::page))
        .route("/app/security/two-factor/enrol", post(two_factor::enrol))
        .route(
            "/app/security/two-factor/confirm",
            post(two_factor::confirm),
        )
        .route(
            "/app/security/two-factor/disable",
            post(two_factor::disable),
        )
        .route(
            "/app/invitations/{token}",
            get(personal::invitation).post(personal::accept),
        )
        .route(
            "/app/password-reset",
            get(personal::reset_request_form).post(personal::reset_request),
        )
        .route(
            "/app/password-reset/{token}",
            get(personal::reset_form).post(personal::reset),
        )
        .route("/app/security", get(security::security))
        .route("/app/security/password", post(security::change_password))
        .route(
            "/app/security/sessions/{session_id}/end",
            post(security::end_session),
        )
        .route("/app/static/app.css", get(css))
        .route("/app/static/app.js", get(js))
        .route("/app/static/passkeys.js", get(passkeys_js))
        .route("/app/security/passkeys", post(passkeys::add))
        .route("/app/security/passkeys/options", post(passkeys::options))
        .route(
            "/app/security/passkeys/{passkey_id}/remove",
            post(passkeys::remove),
        )
        .route("/app/orgs/{org_id}", get(sign_in::landing))
        .route(org, get(org::settings))
        .route(&format!("{org}/rate-limit"), post(org::set_rate_limit))
        .route(
            &format!("{org}/two-factor"),
            get(two_factor::org_policy).post(two_factor::set_org_policy),
        )
        .route(
            &format!("{org}/sso"),
            get(sso_settings::page).post(sso_settings::save),
        )
        .route(&format!("{org}/sso/delete"), post(sso_settings::remove))
        .route(&format!("{org}/developer"), get(keys::developer))
        .route(&keys_at, get(keys::list))
        .route(
            &format!("{keys_at}/generate"),
            get(keys::admin::generate_page).post(keys::admin::generate),
        )
        .route(
            &format!("{keys_at}/new"),
            get(keys::scoped::new_page).post(keys::scoped::create),
        )
        .route(
            &format!("{keys_at}/{{client_id}}/regenerate"),
            get(keys::admin::regenerate_page).post(keys::admin::regenerate),
        )
        .route(
            &format!("{keys_at}/{{client_id}}/rate-limit"),
            get(keys::limit::edit_page).post(keys::limit::edit),
        )
        .route(
            &format!("{keys_at}/{{client_id}}/duplicate"),
            get(keys::duplicate_page).post(keys::duplicate),
        )
        .route(
            &format!("{keys_at}/{{client_id}}/edit"),
            get(keys::scoped::edit_page).post(keys::scoped::edit),
        )
        .route(
            &format!("{keys_at}/{{client_id}}/delete"),
            get(keys::delete_page).post(keys::delete),
        )
        .route(&format!("{keys_at}/{{client_id}}"), get(usage::key_page))
        .route(&format!("{org}/developer/audit-log"), get(org::audit))
        .route(
            &format!("{org}/developer/audit-log/export"),
            get(org::audit_export),
        )
        .route(&format!("{org}/developer/usage"), get(usage::overview))
        .route(&format!("{org}/members"), get(people::members))
        .route(&format!("{org}/invitations"), post(people::invite))
        .route(
            &format!("{org}/invitations/{{invitation_id}}/withdraw"),
            post(people::withdraw),
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
        .with_state(Pages::new(app))
}

async fn not_found() -> extract::PageError {
    extract::PageError::Service(crate::service::Error::NotFound)
}

async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

async fn passkeys_js() -> Response {
    asset(PASSKEYS_JS, "text/javascript; charset=utf-8")
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

/// The app's own CSP (the API's `default-src 'none'` would block our CSS and
/// JS), and no caching of any page: they show keys and tokens.
async fn html_headers(req: Request, next: Next) -> Response {
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
