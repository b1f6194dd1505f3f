//! The password prompt that guards every change in the app (key actions,
//! member changes, accounts): a page of its own without JavaScript, the same
//! form in a dialog with it. The check itself is the service's (with its
//! per-user failure limit); this only shows its answer next to the field.

use askama::Template;
use axum::response::{IntoResponse, Response};

use crate::service::Error;
use crate::ui::Pages;
use crate::ui::extract::{FormBody, OrgMember, PageError};
use crate::ui::form_errors::FormErrors;
pub use crate::ui::form_errors::password_error;
use crate::ui::key_terms::TermsFields;
use crate::ui::layout::{Shell, render_status};
use crate::ui::routes::check_form;
use crate::ui::routes::keys::form::FormValues;

/// The password prompt before an action (a page; JavaScript shows the same
/// form in a dialog on the list).
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub shell: Shell,
    pub title: String,
    pub body: String,
    pub action: String,
    pub button: &'static str,
    pub danger: bool,
    pub hidden: Vec<(String, String)>,
    pub back: String,
    pub back_label: &'static str,
    /// Regenerate: the choice of grace period, with the one selected.
    pub grace: Option<String>,
    /// An admin key's Generate and Regenerate: expiry, allowlist, rate limit.
    pub terms: Option<crate::ui::key_terms::TermsFields>,
    /// Every error of the form (the key fields' also shown beside them).
    pub errors: FormErrors,
}

/// The password prompt for one action.
pub struct Prompt {
    pub title: String,
    pub body: String,
    pub action: String,
    pub button: &'static str,
    pub danger: bool,
    /// Form fields the action needs besides the password (e.g. the new role).
    pub hidden: Vec<(String, String)>,
    /// Where Cancel leads, and the page's name in the breadcrumb.
    pub back: (String, &'static str),
    /// The app's section, for the navigation.
    pub nav: &'static str,
    /// Regenerate: offer how long the replaced secret keeps working (the
    /// choice selected).
    pub grace: Option<String>,
    /// An admin key's Generate and Regenerate: expiry, allowlist and rate
    /// limit, as typed; an error of one of them is shown beside it.
    pub terms: Option<TermsFields>,
}

pub async fn prompt_page<R>(
    app: &Pages,
    m: &OrgMember<R>,
    p: Prompt,
    errors: Option<FormErrors>,
) -> Result<ConfirmPage, PageError> {
    // The key fields' errors first, in the page's order, then the password's.
    let mut all = FormErrors::new();
    if let Some(t) = &p.terms {
        for field in ["expires_at", "allowed_networks", "rate_limit"] {
            for (id, msg) in t.errors_of(field) {
                all.add(&id, msg);
            }
        }
    }
    all.extend(errors.unwrap_or_default());
    Ok(ConfirmPage {
        shell: Shell::load(app, &m.current, &m.org_id, m.role, p.nav).await?,
        title: p.title,
        body: p.body,
        action: p.action,
        button: p.button,
        danger: p.danger,
        hidden: p.hidden,
        back: p.back.0,
        back_label: p.back.1,
        grace: p.grace,
        terms: p.terms,
        errors: all,
    })
}

/// Runs an action confirmed with the password in the form: checks the form
/// token, then runs `action`, whose service checks the password. A wrong
/// password shows the prompt again with the error, a bad key field (the
/// prompt's `terms`) the error beside that field; nothing was changed. A
/// form sent without a password field at all (no JavaScript, the row's own
/// button) gets the prompt without running the action or counting a failure.
pub async fn confirmed<R, T>(
    app: &Pages,
    m: &OrgMember<R>,
    form: &FormBody,
    mut p: Prompt,
    action: impl Future<Output = Result<T, Error>>,
) -> Result<T, Response> {
    check_form(app, &m.current, form).map_err(IntoResponse::into_response)?;
    let mut errors = FormErrors::new();
    if form.get("password").is_some() {
        // What the page can check itself, all at once: the key fields, and
        // the password left empty. The action runs only when that is all right.
        let terms_ok = p.terms.as_mut().is_none_or(check_terms);
        errors.require(form, "password", "Login password: enter it to continue.");
        if terms_ok && errors.is_empty() {
            let e = match action.await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            // A bad key field: beside it, with everything typed kept.
            let beside_field = match (&e, p.terms.as_mut()) {
                (Error::Invalid { field, message }, Some(terms)) => {
                    terms.show_error(field, message)
                }
                _ => false,
            };
            if !beside_field {
                errors.place(e, &[]).map_err(IntoResponse::into_response)?;
            }
        }
    }
    Err(match prompt_page(app, m, p, Some(errors)).await {
        Ok(page) => render_status(page.errors.status(), &page),
        Err(e) => e.into_response(),
    })
}

/// The key fields' own checks (allowlist lines, both rate limit numbers),
/// each error beside its field: `true` when there is none.
fn check_terms(terms: &mut TermsFields) -> bool {
    let values = FormValues {
        networks: terms.networks.clone(),
        ..FormValues::default()
    };
    if let Err(Error::Invalid { field, message }) = values.terms() {
        terms.show_error(&field, &message);
    }
    terms.limit.checked();
    ["allowed_networks", "rate_limit"]
        .iter()
        .all(|f| terms.errors_of(f).is_empty())
}
