//! The Developer app's side of the edge: who is signed in (the shared
//! extractors of `access`, with the session token taken only from the app's
//! cookie and refusals shown as pages: no session → the sign-in page, wrong
//! role → a page that says which role is needed), form bodies, and cookies.

use askama::Template;
use axum::extract::{FromRequest, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;

use crate::middleware::access;
use crate::service::{Error, Need};
use crate::state::app::App;
use crate::ui::layout::render;

pub use crate::middleware::access::{AnyMember, ClientInfo, KeyManager, OrgManager};
pub use crate::middleware::cookies::{Tls, cookie, is_tls, set_cookie, set_lax_cookie};

/// What a refusal or an error shows (`PageError`'s answer).
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
    pub trace_id: Option<String>,
}

/// An organization that requires two-factor, to a member without it.
#[derive(Template)]
#[template(path = "two_factor_required.html")]
pub struct TwoFactorRequiredPage;

pub const SESSION_COOKIE: &str = "keygate_session";

/// The Developer app: sessions come as its cookie, never as a bearer token.
pub struct AppPages;

impl access::Surface for AppPages {
    type Rejection = PageError;

    fn session_token(parts: &Parts, app: &App) -> Option<String> {
        let tls = is_tls(parts, &app.settings.trusted_proxies);
        cookie(&parts.headers, SESSION_COOKIE, tls)
    }
}

pub type CurrentUser = access::CurrentUser<AppPages>;
pub type OrgMember<R> = access::OrgMember<R, AppPages>;

/// Why a form body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormFault {
    /// Over the body limit: 413.
    TooLarge,
    /// Not in by `--body-timeout`, or slower than `--body-min-rate`: 408.
    TooSlow,
    /// Broken framing (a bad chunk) or not a form: 400.
    Malformed,
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// A service refused or failed.
    Service(Error),
    /// The form's single-use token was missing, forged, expired or used.
    StaleForm,
    /// The form body could not be read.
    BadForm(FormFault),
}

impl From<Error> for PageError {
    fn from(e: Error) -> PageError {
        PageError::Service(e)
    }
}

impl From<keygate_store::StoreError> for PageError {
    fn from(e: keygate_store::StoreError) -> PageError {
        PageError::Service(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = match self {
            PageError::Service(Error::Unauthorized) => {
                return Redirect::to("/app/sign-in").into_response();
            }
            PageError::Service(e) => e,
            PageError::StaleForm => {
                return page(
                    StatusCode::BAD_REQUEST,
                    "This form has expired",
                    "This form was already submitted or has expired. Nothing was changed. Go back to the list and try again; an API key is only ever shown once.".into(),
                    None,
                );
            }
            PageError::BadForm(fault) => {
                let (status, message) = match fault {
                    FormFault::TooLarge => (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "The form is too large. Nothing was changed.",
                    ),
                    FormFault::TooSlow => (
                        StatusCode::REQUEST_TIMEOUT,
                        "The form took too long to arrive. Nothing was changed; try again.",
                    ),
                    FormFault::Malformed => (
                        StatusCode::BAD_REQUEST,
                        "The form was garbled on the way. Nothing was changed; try again.",
                    ),
                };
                return page(
                    status,
                    "The form could not be read",
                    message.to_owned(),
                    None,
                );
            }
        };
        let trace_id = e.trace();
        let (status, title, message) = match e {
            Error::Forbidden(Need::KeyManager) => (
                StatusCode::FORBIDDEN,
                "You need the Owner, Admin or Developer role",
                "Developer app access requires the Owner, Admin or Developer role. Ask an owner or admin of this organization to change your role.".into(),
            ),
            Error::Forbidden(Need::OrgManager) => (
                StatusCode::FORBIDDEN,
                "You need the Owner or Admin role",
                "Only owners and admins of this organization can open this page.".into(),
            ),
            Error::Forbidden(Need::Owner) => (
                StatusCode::FORBIDDEN,
                "You need the Owner role",
                "Only the owner of this organization can do this.".into(),
            ),
            Error::NotAllowed(m) => (StatusCode::FORBIDDEN, "Not allowed", m.to_owned()),
            Error::OrgSuspended => (
                StatusCode::FORBIDDEN,
                "Organization suspended",
                "This organization is suspended: its keys cannot log in now.".into(),
            ),
            Error::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is nothing here, or it belongs to an organization you are not a member of.".into(),
            ),
            Error::TooManyAttempts { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "Too many failed attempts. Wait a few minutes, then try again.".into(),
            ),
            Error::PasswordRejected => (
                StatusCode::UNAUTHORIZED,
                "Wrong password",
                "That password is not correct. Nothing was changed.".into(),
            ),
            Error::Invalid { message, .. } => {
                (StatusCode::BAD_REQUEST, "That did not work", message)
            }
            Error::Conflict(m) => (StatusCode::CONFLICT, "That did not work", m),
            Error::LoginAsNotAllowed => (StatusCode::FORBIDDEN, "Not allowed", String::new()),
            Error::SsoRequired => (
                StatusCode::FORBIDDEN,
                "Single sign-on required",
                "Your organization signs you in through its identity provider.".into(),
            ),
            Error::InvalidScope
            | Error::InvalidDpopProof(_)
            | Error::DpopRequired
            | Error::SubjectTokenRefused(_) => {
                (StatusCode::BAD_REQUEST, "That did not work", String::new())
            }
            Error::TwoFactorRequired => {
                return two_factor_required_page();
            }
            Error::Busy { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy",
                "Nothing was changed. Try again in a few seconds.".into(),
            ),
            Error::Unavailable(_) | Error::StaleCache => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Something went wrong",
                "The service is unavailable; retry shortly.".into(),
            ),
            Error::Internal(_) | Error::Unauthorized => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                String::new(),
            ),
        };
        page(status, title, message, trace_id)
    }
}

/// The organization requires two-factor sign-in: a page that leads to
/// turning it on.
fn two_factor_required_page() -> Response {
    let page = TwoFactorRequiredPage;
    (StatusCode::FORBIDDEN, render(&page)).into_response()
}

/// A page that says what happened, with the status.
pub fn page(
    status: StatusCode,
    title: &str,
    message: String,
    trace_id: Option<String>,
) -> Response {
    let page = ErrorPage {
        title: title.to_owned(),
        message,
        trace_id,
    };
    (status, render(&page)).into_response()
}

/// A page whose form was rejected: the form token was missing, forged,
/// expired or already used.
pub fn stale_form() -> PageError {
    PageError::StaleForm
}

/// An `application/x-www-form-urlencoded` body, as pairs (repeated names kept).
pub struct FormBody(pub Vec<(String, String)>);

impl FormBody {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str, value: &str) -> bool {
        self.all(name).any(|v| v == value)
    }
}

impl<S: Send + Sync> FromRequest<S> for FormBody {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            PageError::BadForm(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                FormFault::TooLarge
            } else if crate::middleware::body_deadline::timed_out(&e) {
                FormFault::TooSlow
            } else {
                FormFault::Malformed
            })
        })?;
        serde_urlencoded::from_bytes(&bytes)
            .map(FormBody)
            .map_err(|_| PageError::BadForm(FormFault::Malformed))
    }
}

pub const PRESESSION_COOKIE: &str = "keygate_presession";

/// Headers that delete the session cookie under both of its names.
pub fn clear_session_cookies() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (
            header::SET_COOKIE,
            HeaderValue::from_static(
                "keygate_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
            ),
        ),
        (
            header::SET_COOKIE,
            HeaderValue::from_static(
                "__Host-keygate_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure",
            ),
        ),
    ]
}

pub fn session_cookie(token: &str, max_age_secs: i64, tls: bool) -> HeaderValue {
    set_cookie(SESSION_COOKIE, token, max_age_secs, tls)
}

/// 303 See Other: the answer to a successful form POST (post/redirect/get).
pub fn see_other(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(to).unwrap_or_else(|_| HeaderValue::from_static("/app")),
        )],
    )
        .into_response()
}
