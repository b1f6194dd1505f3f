//! New scoped API key and Edit: the key form's pages and their POSTs. What
//! the form checks itself (scope, allowlist lines, rate limit) is checked
//! before the service call; an error brings the form back with everything
//! typed and the message beside its field, and nothing is written.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use keygate_store::{KeyKind, KeyRecord};

use crate::service::Error;
use crate::service::keys::{self, KeyChanges};
use crate::ui::Pages;
use crate::ui::extract::{FormBody, PageError, see_other};
use crate::ui::layout::{render, render_status};
use crate::ui::routes::check_form;
use crate::ui::routes::confirm::password_error;
use crate::ui::routes::keys::common::{KeyManagerMember, key_of, keys_url, reveal};
use crate::ui::routes::keys::form::{self, FormValues, KeyFormPage, form_page};

pub async fn new_page(
    State(app): State<Pages>,
    m: KeyManagerMember,
) -> Result<Response, PageError> {
    let values = FormValues::default();
    let page = form_page(&app, &m, None, values, Vec::new()).await?;
    Ok(render(&page))
}

pub async fn create(
    State(app): State<Pages>,
    m: KeyManagerMember,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    let values = FormValues::from_form(&app, &form);
    let password = form.get("password");
    let problems = all_problems(&app, &m, &values, None, password).await?;
    if !problems.is_empty() {
        return form_again(&app, &m, None, values, problems).await;
    }
    let checked = values.scope_input().and_then(|input| {
        let terms = values.terms()?;
        Ok((input, terms, values.limit.limit()?))
    });
    let result = match checked {
        Ok((mut input, terms, limit)) => {
            input.expires_at = values.expires_at_input();
            let who = m.acting();
            keys::create_scoped(&app, &who, &values.name, &input, limit, &terms, password).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => reveal(&app, &m, "Scoped API key created", r).await,
        Err(e) => form_again(&app, &m, None, values, vec![e]).await,
    }
}

/// Every error of the form at once: what the form reads itself (accounts,
/// allowlist lines, rate limit) and what the service would refuse (name,
/// scope, expiry, key policy), and an empty password among others. The
/// create or edit runs only when there is none.
async fn all_problems(
    app: &Pages,
    m: &KeyManagerMember,
    values: &FormValues,
    key: Option<&KeyRecord>,
    password: Option<&str>,
) -> Result<Vec<Error>, PageError> {
    let mut problems = Vec::new();
    let input = values.scope_input().map_err(|e| problems.push(e)).ok();
    let terms = values.terms().map_err(|e| problems.push(e)).ok();
    if let Err(e) = values.limit.limit() {
        problems.push(e);
    }
    let expiry = values.expires_at_input();
    let change = match key {
        Some(k) if values.same_expiry(k) => None,
        _ => Some(expiry.as_deref()),
    };
    let current = key.and_then(|k| k.expires_at);
    problems.extend(
        keys::field_problems(
            app,
            &m.org_id,
            &values.name,
            input.as_ref(),
            change,
            current,
            terms.as_ref(),
        )
        .await?,
    );
    if !problems.is_empty() && password.unwrap_or("").is_empty() {
        problems.push(Error::invalid(
            "password",
            "enter your login password to confirm",
        ));
    }
    Ok(problems)
}

/// The form again with each error next to its field and all of them in a
/// summary at the top; nothing was changed.
async fn form_again(
    app: &Pages,
    m: &KeyManagerMember,
    key: Option<&KeyRecord>,
    values: FormValues,
    errors: Vec<Error>,
) -> Result<Response, PageError> {
    if let Some(i) = errors
        .iter()
        .position(|e| !matches!(e, Error::Invalid { .. }) && password_error(e).is_none())
    {
        return Err(errors.into_iter().nth(i).unwrap_or(Error::NotFound).into());
    }
    let status = errors
        .iter()
        .find_map(|e| password_error(e).map(|(s, _)| s))
        .filter(|_| errors.iter().all(|e| !matches!(e, Error::Invalid { .. })))
        .unwrap_or(StatusCode::BAD_REQUEST);
    let page: KeyFormPage = form_page(app, m, key, values, errors).await?;
    Ok(render_status(status, &page))
}

pub async fn edit_page(
    State(app): State<Pages>,
    m: KeyManagerMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    let values = FormValues::from_key(&k);
    Ok(render(
        &form_page(&app, &m, Some(&k), values, Vec::new()).await?,
    ))
}

pub async fn edit(
    State(app): State<Pages>,
    m: KeyManagerMember,
    Path((_, id)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, Some(KeyKind::Scoped)).await?;
    check_form(&app, &m.current, &form)?;
    let values = FormValues::from_form(&app, &form);
    let password = form.get("password");
    let problems = all_problems(&app, &m, &values, Some(&k), password).await?;
    if !problems.is_empty() {
        return form_again(&app, &m, Some(&k), values, problems).await;
    }
    let checked = values.scope_input().and_then(|input| {
        let terms = values.terms()?;
        Ok((input, terms, values.limit.change()?))
    });
    let result = match checked {
        Ok((input, terms, rate_limit)) => {
            let changes = KeyChanges {
                name: Some(values.name.clone()),
                org_permissions: Some(input.org_permissions),
                account_permissions: input
                    .account_permissions
                    .or_else(|| Some(form::no_accounts())),
                // Empty fields remove the key's own limit.
                rate_limit,
                // Unchanged (even when already past) is kept; empty clears.
                expires_at: (!values.same_expiry(&k)).then(|| values.expires_at_input()),
                allowed_networks: terms.allowed_networks,
                require_dpop: terms.require_dpop,
                // Unchanged fields keep the credits and what was used.
                credits: values.credits.change(),
                federation: terms.federation,
            };
            keys::update(&app, &m.acting(), &k.client_id, changes, password).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("{}?done=updated", keys_url(&m)))),
        Err(e) => form_again(&app, &m, Some(&k), values, vec![e]).await,
    }
}
