//! An admin key's rate limit, changed without a new secret: the app's side
//! of `PATCH …/admin-keys/{client_id}` (the only edit an admin key has; its
//! expiry and allowlist change with Regenerate, as in the JSON API). A plain
//! page with or without JavaScript, like the scoped key form.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use keygate_store::{KeyKind, KeyRecord};

use crate::service::{Error, keys, orgs};
use crate::ui::Pages;
use crate::ui::extract::{FormBody, PageError, see_other};
use crate::ui::form_errors::FormErrors;
use crate::ui::key_terms::limit_hint;
use crate::ui::layout::{Shell, render, render_status};
use crate::ui::rate_limit::{self, LimitFields};
use crate::ui::routes::check_form;
use crate::ui::routes::keys::common::{KeyManagerMember, key_of, keys_url};

#[derive(Template)]
#[template(path = "admin_key_limit.html")]
pub struct LimitPage {
    pub shell: Shell,
    pub name: String,
    pub key_url: String,
    pub limit: LimitFields,
    pub limit_hint: String,
    pub errors: FormErrors,
}

async fn page(
    app: &Pages,
    m: &KeyManagerMember,
    k: &KeyRecord,
    limit: LimitFields,
    errors: FormErrors,
) -> Result<LimitPage, PageError> {
    let shell = Shell::load(app, &m.current, &m.org_id, m.role, "keys").await?;
    Ok(LimitPage {
        key_url: format!("{}/{}", shell.keys_url(), k.client_id),
        shell,
        name: k.name.clone(),
        limit,
        limit_hint: limit_hint(orgs::rate_limit(app, &m.org_id).await?),
        errors,
    })
}

pub async fn edit_page(
    State(app): State<Pages>,
    m: KeyManagerMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Admin)).await?;
    let fields = LimitFields::of(k.rate_limit);
    Ok(render(
        &page(&app, &m, &k, fields, FormErrors::new()).await?,
    ))
}

/// Both fields empty clear the key's own limit. An error shows the page
/// again with what was typed; nothing is written.
pub async fn edit(
    State(app): State<Pages>,
    m: KeyManagerMember,
    Path((_, id)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Admin)).await?;
    check_form(&app, &m.current, &form)?;
    let mut fields = LimitFields::posted(
        form.get(rate_limit::REQUESTS),
        form.get(rate_limit::PER_SECONDS),
    );
    let change = fields.checked();
    let mut errors = FormErrors::new();
    errors.limit(&fields);
    errors.require(&form, "password", "Login password: enter it to confirm.");
    if let (Some(change), true) = (change, errors.is_empty()) {
        let (who, password) = (m.acting(), form.get("password"));
        match keys::set_rate_limit(&app, &who, &k.client_id, KeyKind::Admin, change, password).await
        {
            Ok(k) => {
                let at = format!("{}/{}", keys_url(&m), k.client_id);
                return Ok(see_other(&format!("{at}?done=rate-limit")));
            }
            Err(Error::Invalid { field, message }) => {
                fields.show_error(&field, &message);
                errors.limit(&fields);
            }
            Err(e) => errors.place(e, &[])?,
        }
    }
    let page = page(&app, &m, &k, fields, errors).await?;
    Ok(render_status(page.errors.status(), &page))
}
