//! The scoped key form: what was posted or stored, back into the form with
//! errors next to their fields, and the one-line scope summaries of the list.
//!
//! This file holds the page model (`KeyForm`, `KeyFormPage`), how each error
//! is placed beside its field, and `form_page`, which fills it. Its parts:
//! `values.rs`, the form's values (`FormValues`) as posted or read from a key
//! and what the service takes of them; `scope_text.rs`, a key's scope in words
//! for its page and the list.

use std::collections::BTreeMap;

use askama::Template;
use keygate_core::{Access, Level};
use keygate_store::KeyRecord;

use crate::service::{Error, orgs};
use crate::ui::Pages;
use crate::ui::extract::PageError;
use crate::ui::extract::{KeyManager, OrgMember};
use crate::ui::form_errors::password_error;
use crate::ui::key_terms::{TermsFields, sentence};
use crate::ui::layout::{Shell, humanize};
use crate::ui::routes::keys::credits::{self, CreditFields};

mod scope_text;
mod values;

pub use scope_text::{scope_lines, scope_summary};
pub use values::{FormValues, no_accounts};

pub struct PermRow {
    pub name: String,
    pub label: String,
    pub description: String,
    pub read: bool,
    pub write: bool,
}

pub struct AccountOption {
    pub account_id: String,
    pub name: String,
    pub checked: bool,
}

/// The new / edit scoped key form, with its values and errors.
pub struct KeyForm {
    pub heading: String,
    pub action: String,
    pub submit: &'static str,
    pub name: String,
    pub org: Vec<PermRow>,
    pub account: Vec<PermRow>,
    pub accounts: Vec<AccountOption>,
    pub all_accounts: bool,
    pub error: Option<String>,
    /// Every error, in the page's order of fields: (the field's id, or
    /// empty when it has none; the message). Shown first, each linking to its field.
    pub summary: Vec<(String, String)>,
    pub name_error: Option<String>,
    pub org_error: Option<String>,
    pub account_error: Option<String>,
    pub password_error: Option<String>,
    /// Expiry, allowlist and rate limit: the fields an admin key's Generate
    /// and Regenerate offer too, with their errors.
    pub terms: TermsFields,
    /// Issue only DPoP-bound tokens (scoped keys only).
    pub require_dpop: bool,
    /// Credits (scoped keys only).
    pub credits: CreditFields,
    /// The federation rules as typed, one per line.
    pub federation: String,
    pub federation_error: Option<String>,
}

impl KeyForm {
    /// Puts one error beside its field and into the summary.
    fn place(&mut self, e: Error) -> Result<(), PageError> {
        match e {
            e @ (Error::PasswordRejected | Error::TooManyAttempts { .. } | Error::Busy { .. }) => {
                let msg = password_error(&e).map(|(_, msg)| msg).unwrap_or_default();
                self.summary.push(("password".into(), msg.clone()));
                self.password_error = Some(msg);
            }
            Error::Invalid {
                field: source,
                message,
            } => {
                let msg = sentence(&message);
                if source == "password" {
                    self.summary.push(("password".into(), msg.clone()));
                    self.password_error = Some(msg);
                } else if source == "name" {
                    let msg = format!("API key name: {}", msg.to_lowercase());
                    self.summary.push(("name".into(), msg.clone()));
                    self.name_error = Some(msg);
                } else if source.starts_with("org_permissions") {
                    let shown = format!("Organization-level permissions: {}", msg.to_lowercase());
                    self.summary.push(("org-perms".into(), shown));
                    self.org_error = Some(msg);
                } else if source.starts_with("account_permissions") {
                    let shown = format!("Account-level permissions: {}", msg.to_lowercase());
                    self.summary.push(("acct-perms".into(), shown));
                    self.account_error = Some(msg);
                } else if source.starts_with("credits") {
                    self.credits.show_error(&message);
                    let shown = self.credits.error.clone().unwrap_or_default();
                    self.summary.push((credits::REMAINING.into(), shown));
                } else if source.starts_with("federation") {
                    let shown = format!("Workload identity federation: {}", msg.to_lowercase());
                    self.summary.push(("federation".into(), shown));
                    self.federation_error = Some(federation_error(&source, &msg));
                } else if self.terms.show_error(&source, &message) {
                    self.summary.extend(self.terms.errors_of(&source));
                } else {
                    self.summary.push((String::new(), msg.clone()));
                    self.error = Some(msg);
                }
            }
            e => return Err(e.into()),
        }
        // The page's order: name, expiry, permissions, networks, rate limit, password.
        const ORDER: [&str; 10] = [
            "name",
            "expires_at",
            "org-perms",
            "acct-perms",
            "allowed_networks",
            "federation",
            "rate_limit_requests",
            "rate_limit_per_seconds",
            credits::REMAINING,
            "password",
        ];
        self.summary
            .sort_by_key(|(id, _)| ORDER.iter().position(|o| o == id).unwrap_or(0));
        Ok(())
    }

    pub fn accounts_summary(&self) -> String {
        if self.all_accounts {
            return "All accounts".into();
        }
        let names: Vec<&str> = self
            .accounts
            .iter()
            .filter(|a| a.checked)
            .map(|a| a.name.as_str())
            .collect();
        if names.is_empty() {
            "Select accounts".into()
        } else {
            names.join(", ")
        }
    }
}

#[derive(Template)]
#[template(path = "key_form.html")]
pub struct KeyFormPage {
    pub shell: Shell,
    pub form: KeyForm,
}

/// A service error about rule `federation[i].field` as the form shows it:
/// the rule's line.
fn federation_error(source: &str, msg: &str) -> String {
    let line = source
        .strip_prefix("federation[")
        .and_then(|r| r.split(']').next())
        .and_then(|n| n.parse::<usize>().ok());
    match line {
        Some(i) => {
            let part = source.rsplit('.').next().unwrap_or("rule");
            format!("Line {}: the {part} {}", i + 1, msg.to_lowercase())
        }
        None => msg.to_owned(),
    }
}

fn rows(app: &Pages, level: Level, chosen: &BTreeMap<String, Access>) -> Vec<PermRow> {
    app.catalog
        .of_level(level)
        .map(|r| {
            let a = chosen.get(&r.name).copied();
            PermRow {
                name: r.name.clone(),
                label: humanize(&r.name),
                description: r.description.clone(),
                read: a.is_some(),
                write: a == Some(Access::Write),
            }
        })
        .collect()
}

/// The new (no key) or edit form, with each of `errors` next to its field
/// and all of them in the summary at the top.
pub async fn form_page(
    app: &Pages,
    m: &OrgMember<KeyManager>,
    key: Option<&KeyRecord>,
    values: FormValues,
    errors: Vec<Error>,
) -> Result<KeyFormPage, PageError> {
    let shell = Shell::load(app, &m.current, &m.org_id, m.role, "keys").await?;
    let mut accounts = orgs::accounts(app, &m.org_id).await?;
    accounts.sort_by(|a, b| a.name.cmp(&b.name));
    let org_default = orgs::rate_limit(app, &m.org_id).await?;
    let (heading, action, submit) = match key {
        Some(k) => (
            format!("Edit API key “{}”", k.name),
            format!("{}/{}/edit", shell.keys_url(), k.client_id),
            "Save changes",
        ),
        None => (
            "New scoped API key".to_owned(),
            format!("{}/new", shell.keys_url()),
            "Create",
        ),
    };
    let mut form = KeyForm {
        heading,
        action,
        submit,
        name: values.name.clone(),
        org: rows(app, Level::Org, &values.org),
        account: rows(app, Level::Account, &values.account),
        accounts: accounts
            .iter()
            .map(|a| AccountOption {
                account_id: a.account_id.to_string(),
                name: a.name.clone(),
                checked: values.accounts.contains(a.account_id.as_str()),
            })
            .collect(),
        all_accounts: values.all_accounts,
        error: None,
        summary: Vec::new(),
        name_error: None,
        org_error: None,
        account_error: None,
        password_error: None,
        terms: TermsFields {
            expires_at: values.expires_at.clone(),
            networks: values.networks.clone(),
            limit: values.limit.clone(),
            ..TermsFields::blank(org_default)
        },
        require_dpop: values.require_dpop,
        credits: values.credits.clone(),
        federation: values.federation.clone(),
        federation_error: None,
    };
    for e in errors {
        form.place(e)?;
    }
    Ok(KeyFormPage { shell, form })
}
