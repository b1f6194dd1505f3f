//! The Developer app's side of the HTTP edge: the API's extractors with HTML
//! answers instead of JSON ones (no session → the sign-in page, wrong role →
//! a page that says which role is needed), form bodies, and session cookies.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;

use crate::app::AppState;
use crate::http::error::ApiError;
pub use crate::http::extract::cookie;
use crate::http::extract::{KeyManager, OrgManager, RoleRule, SESSION_COOKIE, is_tls};
use crate::ui::pages::{ErrorPage, render};

/// An API extractor (`CurrentUser`, `OrgMember<R>`) whose failures become pages.
pub struct Ui<T>(pub T);

impl<T> FromRequestParts<AppState> for Ui<T>
where
    T: FromRequestParts<AppState, Rejection = ApiError>,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, PageError> {
        T::from_request_parts(parts, app)
            .await
            .map(Ui)
            .map_err(PageError)
    }
}

/// An error shown as a page.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError(e)
    }
}

impl From<keygate_store::StoreError> for PageError {
    fn from(e: keygate_store::StoreError) -> PageError {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (title, hint) = match &self.0 {
            ApiError::Unauthorized | ApiError::BadToken => {
                return Redirect::to("/app/sign-in").into_response();
            }
            ApiError::Forbidden(m) if *m == KeyManager::DENIED => (
                "You need the Owner, Admin or Developer role",
                "Developer app access requires the Owner, Admin or Developer role. Ask an owner or admin of this organization to change your role.",
            ),
            ApiError::Forbidden(m) if *m == OrgManager::DENIED => (
                "You need the Owner or Admin role",
                "Only owners and admins of this organization can open this page.",
            ),
            ApiError::Forbidden(_) => ("Not allowed", ""),
            ApiError::NotFound => (
                "Page not found",
                "There is nothing here, or it belongs to an organization you are not a member of.",
            ),
            ApiError::TooManyRequests { .. } => (
                "Too many attempts",
                "Too many failed attempts. Wait a few minutes, then try again.",
            ),
            _ => ("Something went wrong", ""),
        };
        let (status, body) = self.0.parts();
        let page = ErrorPage {
            title: title.to_owned(),
            message: if hint.is_empty() {
                body.message
            } else {
                hint.to_owned()
            },
            trace_id: body.trace_id,
        };
        (status, render(&page)).into_response()
    }
}

/// A page whose form was rejected: the form token was missing, forged,
/// expired or already used.
pub fn stale_form() -> PageError {
    PageError(ApiError::BadRequest(
        "form_expired",
        "This form was already submitted or has expired. Nothing was changed. Go back to the list and try again; an API key is only ever shown once.".into(),
    ))
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
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| PageError(ApiError::PayloadTooLarge))?;
        serde_urlencoded::from_bytes(&bytes)
            .map(FormBody)
            .map_err(|_| {
                PageError(ApiError::BadRequest(
                    "invalid_form",
                    "The form could not be read.".into(),
                ))
            })
    }
}

pub const PRESESSION_COOKIE: &str = "keygate_presession";

/// Whether the browser reached us over TLS (directly or through a trusted
/// proxy that says so). Only then are cookies `Secure` with the `__Host-`
/// prefix, and only those are read back.
pub struct Tls(pub bool);

impl FromRequestParts<AppState> for Tls {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, PageError> {
        Ok(Tls(is_tls(parts, &app.settings.trusted_proxies)))
    }
}

fn cookie_name(base: &str, tls: bool) -> String {
    if tls {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// `Set-Cookie` for a cookie only this site's pages send back.
pub fn set_cookie(base: &str, value: &str, max_age_secs: i64, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let v = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}",
        cookie_name(base, tls)
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

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
