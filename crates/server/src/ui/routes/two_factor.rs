//! Security → Two-factor authentication: turn it on (QR code rendered here to
//! SVG, the key as text, a first code, then the recovery codes once) and off.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;

use crate::middleware::access::Owner;
use crate::service::{Error, two_factor};
use crate::ui::Pages;
use crate::ui::extract::{CurrentUser, FormBody, OrgMember, PageError, see_other};
use crate::ui::form_errors::{FormErrors, sentence};
use crate::ui::layout::{Shell, render_status};

use super::check_form;

const PAGE: &str = "/app/security/two-factor";

#[derive(Template)]
#[template(path = "two_factor.html")]
struct TwoFactorPage {
    shell: Shell,
    on: bool,
    /// The errors of the form shown (turn on: the password; turn off: the
    /// password and the code).
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "two_factor_enrol.html")]
struct EnrolPage {
    shell: Shell,
    secret: String,
    otpauth_uri: String,
    qr_data_uri: String,
    error: Option<String>,
}

impl EnrolPage {
    /// The key in groups of four, easier to type by hand.
    fn secret_groups(&self) -> Vec<&str> {
        self.secret
            .as_bytes()
            .chunks(4)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect()
    }
}

#[derive(Template)]
#[template(path = "two_factor_codes.html")]
struct CodesPage {
    shell: Shell,
    codes: Vec<String>,
}

impl CodesPage {
    /// The codes as a text file to download (a `data:` link, no script).
    fn download_href(&self) -> String {
        let mut href = String::from("data:text/plain;charset=utf-8,");
        for c in &self.codes {
            for b in c.bytes() {
                if b.is_ascii_alphanumeric() || b == b'-' {
                    href.push(b as char);
                } else {
                    href.push_str(&format!("%{b:02X}"));
                }
            }
            href.push_str("%0A");
        }
        href
    }
}

async fn status_page(
    app: &Pages,
    me: &CurrentUser,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let on = two_factor::is_on(app, &me.user.user_id).await?;
    let page = TwoFactorPage {
        shell: Shell::personal(app, me, "two-factor").await?,
        on,
        errors,
    };
    Ok(render_status(page.errors.status(), &page))
}

pub async fn page(State(app): State<Pages>, me: CurrentUser) -> Result<Response, PageError> {
    status_page(&app, &me, FormErrors::new()).await
}

pub async fn enrol(
    State(app): State<Pages>,
    me: CurrentUser,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &me, &form)?;
    match two_factor::enrol(&app, &me.user, form.get("password")).await {
        Ok(e) => enrol_page(&app, &me, StatusCode::OK, e.secret, e.otpauth_uri, None).await,
        Err(Error::PasswordRejected) => {
            let mut errors = FormErrors::new();
            errors.place(Error::PasswordRejected, &[])?;
            status_page(&app, &me, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn enrol_page(
    app: &Pages,
    me: &CurrentUser,
    status: StatusCode,
    secret: String,
    otpauth_uri: String,
    error: Option<String>,
) -> Result<Response, PageError> {
    let page = EnrolPage {
        shell: Shell::personal(app, me, "two-factor").await?,
        qr_data_uri: qr_svg_data_uri(&otpauth_uri)?,
        secret,
        otpauth_uri,
        error,
    };
    Ok(render_status(status, &page))
}

pub async fn confirm(
    State(app): State<Pages>,
    me: CurrentUser,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &me, &form)?;
    let code = form.get("code").unwrap_or("");
    match two_factor::confirm(&app, &me.user, &me.actor(), &me.session_hash, code).await {
        Ok(codes) => {
            let shell = Shell::personal(&app, &me, "two-factor").await?;
            Ok(render_status(StatusCode::OK, &CodesPage { shell, codes }))
        }
        Err(Error::Invalid { message, .. }) => {
            // The same secret again: what the app already holds still counts.
            let msg = sentence(&message);
            match two_factor::pending(&app, &me.user).await? {
                Some(e) => {
                    enrol_page(
                        &app,
                        &me,
                        StatusCode::BAD_REQUEST,
                        e.secret,
                        e.otpauth_uri,
                        Some(msg),
                    )
                    .await
                }
                None => {
                    let mut errors = FormErrors::new();
                    errors.add("", msg);
                    status_page(&app, &me, errors).await
                }
            }
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn disable(
    State(app): State<Pages>,
    me: CurrentUser,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &me, &form)?;
    let mut errors = FormErrors::new();
    errors.require(&form, "password", "Password: enter your login password.");
    errors.require(
        &form,
        "code",
        "Code: enter the code your app shows, or a recovery code.",
    );
    if errors.is_empty() {
        let code = form.get("code").unwrap_or("");
        match two_factor::disable(&app, &me.user, &me.actor(), form.get("password"), code).await {
            Ok(()) => return Ok(see_other(PAGE)),
            Err(Error::Invalid { message, .. }) => {
                errors.add("code", sentence(&message));
            }
            Err(e) => errors.place(e, &[])?,
        }
    }
    status_page(&app, &me, errors).await
}

#[derive(Template)]
#[template(path = "org_two_factor.html")]
struct OrgPolicyPage {
    shell: Shell,
    required: bool,
    error: Option<String>,
}

async fn policy_page(
    app: &Pages,
    m: &OrgMember<Owner>,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let shell = Shell::load(app, &m.current, &m.org_id, m.role, "settings").await?;
    let (_, required) = two_factor::org_with_policy(app, &m.org_id).await?;
    let page = OrgPolicyPage {
        shell,
        required,
        error,
    };
    Ok(render_status(status, &page))
}

/// Settings → Two-factor authentication (owner): require it of every member.
pub async fn org_policy(
    State(app): State<Pages>,
    m: OrgMember<Owner>,
) -> Result<Response, PageError> {
    policy_page(&app, &m, StatusCode::OK, None).await
}

pub async fn set_org_policy(
    State(app): State<Pages>,
    m: OrgMember<Owner>,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    let require = form.get("require") == Some("true");
    match two_factor::set_org_policy(&app, &m.acting(), Some(require), form.get("password")).await {
        Ok(_) => Ok(see_other(&format!(
            "/app/orgs/{}/settings/two-factor",
            m.org_id
        ))),
        Err(Error::PasswordRejected) => {
            let msg = "That password is not correct. Nothing was changed.".to_owned();
            policy_page(&app, &m, StatusCode::UNAUTHORIZED, Some(msg)).await
        }
        Err(Error::TwoFactorRequired) => {
            let msg = "Turn on two-factor authentication for your own account first (Security → Two-factor authentication).".to_owned();
            policy_page(&app, &m, StatusCode::FORBIDDEN, Some(msg)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The QR code of the setup link as an SVG image, rendered here (no script):
/// a `data:` URI, which the app's CSP allows for images.
fn qr_svg_data_uri(text: &str) -> Result<String, PageError> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| Error::Internal(format!("QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .build();
    let b64 = base64::engine::general_purpose::STANDARD.encode(svg);
    Ok(format!("data:image/svg+xml;base64,{b64}"))
}
