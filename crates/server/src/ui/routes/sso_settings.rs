//! Settings → Single sign-on (owner): the organization's OpenID provider,
//! its email domains, enforcement and the role of people who join through
//! it; saved and removed with the password, as the JSON API's `…/sso`.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::middleware::access::Owner;
use crate::service::{Error, sso};
use crate::ui::Pages;
use crate::ui::extract::{FormBody, OrgMember, PageError, see_other};
use crate::ui::layout::{Shell, render_status};

use super::check_form;

#[derive(Template)]
#[template(path = "sso_settings.html")]
struct SsoPage {
    shell: Shell,
    /// Whether settings are saved.
    saved: bool,
    issuer: String,
    client_id: String,
    /// One per line.
    domains: String,
    enforce: bool,
    default_role: String,
    redirect_uri: String,
    /// What went wrong, and the field it names.
    error: Option<(String, String)>,
}

impl SsoPage {
    fn role_selected(&self, r: &&str) -> bool {
        self.default_role == *r
    }
}

async fn show(
    app: &Pages,
    m: &OrgMember<Owner>,
    status: StatusCode,
    typed: Option<&FormBody>,
    error: Option<(String, String)>,
) -> Result<Response, PageError> {
    let shell = Shell::load(app, &m.current, &m.org_id, m.role, "settings").await?;
    let saved = match sso::get(app, &m.org_id).await {
        Ok(s) => Some(s),
        Err(Error::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let field = |name: &str, stored: String| match typed {
        Some(f) => f.get(name).unwrap_or("").to_owned(),
        None => stored,
    };
    let s = saved.as_ref();
    let page = SsoPage {
        shell,
        saved: s.is_some(),
        issuer: field("issuer", s.map(|s| s.issuer.clone()).unwrap_or_default()),
        client_id: field(
            "client_id",
            s.map(|s| s.client_id.clone()).unwrap_or_default(),
        ),
        domains: field(
            "domains",
            s.map(|s| s.domains.join("\n")).unwrap_or_default(),
        ),
        enforce: match typed {
            Some(f) => f.get("enforce") == Some("true"),
            None => s.is_some_and(|s| s.enforce),
        },
        default_role: field(
            "default_role",
            s.map(|s| s.default_role.as_str().to_owned())
                .unwrap_or_else(|| "developer".into()),
        ),
        redirect_uri: format!("{}/app/sso/callback", app.settings.notify.public_url),
        error,
    };
    Ok(render_status(status, &page))
}

/// The page.
pub async fn page(State(app): State<Pages>, m: OrgMember<Owner>) -> Result<Response, PageError> {
    show(&app, &m, StatusCode::OK, None, None).await
}

fn refused(e: Error) -> Result<(StatusCode, String, String), PageError> {
    Ok(match e {
        Error::PasswordRejected => (
            StatusCode::UNAUTHORIZED,
            "password".into(),
            "That password is not correct. Nothing was changed.".into(),
        ),
        Error::Invalid { field, message } => (StatusCode::BAD_REQUEST, field, message),
        Error::Conflict(m) => (StatusCode::CONFLICT, "domains".into(), m),
        e => return Err(e.into()),
    })
}

/// Save (or replace) the settings.
pub async fn save(
    State(app): State<Pages>,
    m: OrgMember<Owner>,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    let domains: Vec<String> = form
        .get("domains")
        .unwrap_or("")
        .split([',', '\n', ' '])
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect();
    let secret = form.get("client_secret").filter(|s| !s.is_empty());
    let input = sso::Input {
        issuer: form.get("issuer"),
        client_id: form.get("client_id"),
        client_secret: secret,
        domains: Some(&domains),
        enforce: Some(form.get("enforce") == Some("true")),
        default_role: form.get("default_role"),
    };
    match sso::put(&app, &m.acting(), input, form.get("password")).await {
        Ok(_) => Ok(see_other(&format!("/app/orgs/{}/settings/sso", m.org_id))),
        Err(e) => {
            let (status, field, message) = refused(e)?;
            show(&app, &m, status, Some(&form), Some((field, message))).await
        }
    }
}

/// Turn single sign-on off.
pub async fn remove(
    State(app): State<Pages>,
    m: OrgMember<Owner>,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    match sso::delete(&app, &m.acting(), form.get("password")).await {
        Ok(()) => Ok(see_other(&format!("/app/orgs/{}/settings/sso", m.org_id))),
        Err(e) => {
            let (status, field, message) = refused(e)?;
            show(&app, &m, status, None, Some((field, message))).await
        }
    }
}
