//! Generate and Regenerate: the password prompt (a dialog with JavaScript, a
//! page without) and its POST. An admin key's prompt also offers its optional
//! fields (expiry, allowlist, rate limit), checked by the scoped key form's
//! code and passed to the service call of the JSON API; Regenerate starts
//! from the key's current values, so a plain Regenerate keeps them.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use keygate_core::RateLimit;
use keygate_store::{KeyKind, KeyRecord};

use crate::service::keys::{self, KeyTerms, RotateOptions};
use crate::service::{Error, orgs};
use crate::ui::Pages;
use crate::ui::extract::{FormBody, PageError};
use crate::ui::key_terms::TermsFields;
use crate::ui::layout::render;
use crate::ui::rate_limit::{self, LimitFields};
use crate::ui::routes::confirm::{Prompt, confirmed, prompt_page};
use crate::ui::routes::keys::common::{KeyManagerMember, key_of, keys_url, reveal};
use crate::ui::routes::keys::form::FormValues;
use crate::ui::routes::keys::prompt;

/// The fields as posted (the key form's names).
fn posted(form: &FormBody, org_default: Option<RateLimit>) -> TermsFields {
    TermsFields {
        expires_at: form.get("expires_at").unwrap_or("").trim().to_owned(),
        networks: form.get("allowed_networks").unwrap_or("").to_owned(),
        limit: LimitFields::posted(
            form.get(rate_limit::REQUESTS),
            form.get(rate_limit::PER_SECONDS),
        ),
        ..TermsFields::blank(org_default)
    }
}

/// The fields as the key form's values, to go through the same checks.
fn values(t: &TermsFields) -> FormValues {
    FormValues {
        expires_at: t.expires_at.clone(),
        networks: t.networks.clone(),
        limit: t.limit.clone(),
        ..FormValues::default()
    }
}

async fn owner_name(
    app: &Pages,
    m: &KeyManagerMember,
    owner_id: &str,
) -> Result<String, PageError> {
    if owner_id == m.org_id.as_str() {
        let org = orgs::org(app, &m.org_id).await?;
        return Ok(format!("the organization {}", org.name));
    }
    let accounts = orgs::accounts(app, &m.org_id).await?;
    accounts
        .iter()
        .find(|a| a.account_id.as_str() == owner_id)
        .map(|a| format!("the account {}", a.name))
        .ok_or(Error::NotFound.into())
}

fn generate_prompt(
    m: &KeyManagerMember,
    owner_id: &str,
    owner: &str,
    terms: TermsFields,
) -> Prompt {
    Prompt {
        button: "Generate",
        hidden: vec![("owner_id".into(), owner_id.to_owned())],
        terms: Some(terms),
        ..prompt(
            m,
            "Generate admin API key".into(),
            format!(
                "Generate the admin API key of {owner}. It reaches every API at that level; you will see it once."
            ),
            format!("{}/generate", keys_url(m)),
        )
    }
}

pub async fn generate_page(
    State(app): State<Pages>,
    m: KeyManagerMember,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let q: Vec<(String, String)> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).map_err(|_| Error::NotFound)?;
    let owner_id = q
        .into_iter()
        .find(|(k, _)| k == "owner_id")
        .map(|(_, v)| v)
        .ok_or(Error::NotFound)?;
    let owner = owner_name(&app, &m, &owner_id).await?;
    let terms = TermsFields::blank(orgs::rate_limit(&app, &m.org_id).await?);
    let p = generate_prompt(&m, &owner_id, &owner, terms);
    Ok(render(&prompt_page(&app, &m, p, None).await?))
}

pub async fn generate(
    State(app): State<Pages>,
    m: KeyManagerMember,
    form: FormBody,
) -> Result<Response, PageError> {
    let owner_id = form.get("owner_id").unwrap_or("").to_owned();
    let owner = owner_name(&app, &m, &owner_id).await?;
    let terms = posted(&form, orgs::rate_limit(&app, &m.org_id).await?);
    let action = async {
        let v = values(&terms);
        let checked = v.terms()?;
        let limit = v.limit.limit()?;
        let terms = KeyTerms {
            expires_at: v.expires_at_input(),
            ..checked
        };
        let who = m.acting();
        keys::generate_admin(&app, &who, &owner_id, limit, &terms, form.get("password"))
            .await
            .map_err(|e| match e {
                Error::Conflict(_) => Error::Conflict(
                    "This admin key already exists. Use Regenerate in its … menu to get a new secret."
                        .into(),
                ),
                e => e,
            })
    };
    let prompt = generate_prompt(&m, &owner_id, &owner, terms.clone());
    match confirmed(&app, &m, &form, prompt, action).await {
        Ok(r) => reveal(&app, &m, "Admin API key generated", r).await,
        Err(page) => Ok(page),
    }
}

fn regenerate_prompt(
    m: &KeyManagerMember,
    k: &KeyRecord,
    grace: String,
    terms: Option<TermsFields>,
) -> Prompt {
    let body = format!(
        "“{}” gets a new secret; the client ID stays the same. The old key and every token issued with it stop working when you choose below.",
        k.name
    );
    let action = format!("{}/{}/regenerate", keys_url(m), k.client_id);
    Prompt {
        button: "Regenerate",
        danger: true,
        grace: Some(grace),
        terms,
        ..prompt(m, "Regenerate API key".into(), body, action)
    }
}

/// An admin key's fields (scoped keys change theirs with Edit).
async fn terms_of(
    app: &Pages,
    m: &KeyManagerMember,
    k: &KeyRecord,
) -> Result<Option<TermsFields>, PageError> {
    if k.kind != KeyKind::Admin {
        return Ok(None);
    }
    let org_default = orgs::rate_limit(app, &m.org_id).await?;
    Ok(Some(TermsFields::of_key(k, org_default)))
}

pub async fn regenerate_page(
    State(app): State<Pages>,
    m: KeyManagerMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, None).await?;
    let terms = terms_of(&app, &m, &k).await?;
    let p = regenerate_prompt(&m, &k, "0".into(), terms);
    Ok(render(&prompt_page(&app, &m, p, None).await?))
}

/// The regenerate's changes of an admin key's fields. What still shows the
/// key's value is left out, as an absent field is in the JSON API: the key
/// keeps it (an expiry already past included).
fn rotation(t: &TermsFields, k: &KeyRecord, options: &mut RotateOptions) -> Result<(), Error> {
    let v = values(t);
    let networks = v.terms()?.allowed_networks.unwrap_or_default();
    options.rate_limit = v.limit.change()?;
    options.expires_at = (!v.same_expiry(k)).then(|| v.expires_at_input());
    options.allowed_networks = (networks != k.allowed_networks.to_strings()).then_some(networks);
    Ok(())
}

pub async fn regenerate(
    State(app): State<Pages>,
    m: KeyManagerMember,
    Path((_, id)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let k = key_of(&app, &m, &id, None).await?;
    // The choice (Immediately / 1 hour / 24 hours / 7 days); the service
    // checks the range.
    let grace = form
        .get("previous_secret_expires_in")
        .unwrap_or("0")
        .to_owned();
    let terms = match k.kind {
        KeyKind::Admin => {
            let org_default = orgs::rate_limit(&app, &m.org_id).await?;
            Some(posted(&form, org_default))
        }
        KeyKind::Scoped => None,
    };
    let action = async {
        let mut options = RotateOptions {
            previous_secret_expires_in: Some(grace.parse().unwrap_or(-1)),
            ..RotateOptions::default()
        };
        if let Some(t) = &terms {
            rotation(t, &k, &mut options)?;
        }
        let who = m.acting();
        keys::regenerate(
            &app,
            &who,
            &k.client_id,
            k.kind,
            &options,
            form.get("password"),
        )
        .await
    };
    let prompt = regenerate_prompt(&m, &k, grace.clone(), terms.clone());
    match confirmed(&app, &m, &form, prompt, action).await {
        Ok(r) => reveal(&app, &m, "API key regenerated", r).await,
        Err(page) => Ok(page),
    }
}
