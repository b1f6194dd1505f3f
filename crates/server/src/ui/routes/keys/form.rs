//! The scoped key form: what was posted or stored, back into the form with
//! errors next to their fields, and the one-line scope summaries of the list.

use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use keygate_core::permission::{AllAccounts, Permission};
use keygate_core::{Access, AccountId, AccountSelection, KeyScope, Level, PermSet};
use keygate_store::{AccountRecord, KeyRecord};

use crate::service::keys::{AccountPermissionsInput, ScopeInput};
use crate::service::{Error, orgs};
use crate::ui::Pages;
use crate::ui::extract::{FormBody, PageError};
use crate::ui::extract::{KeyManager, OrgMember};
use crate::ui::form_errors::password_error;
use crate::ui::key_terms::{TermsFields, expiry_field, sentence};
use crate::ui::layout::{Shell, humanize};
use crate::ui::rate_limit::{self, LimitFields};
use crate::ui::routes::keys::credits::{self, CreditFields};

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

/// The form's values, whether posted or read from a key.
#[derive(Clone, Default)]
pub struct FormValues {
    pub name: String,
    pub org: BTreeMap<String, Access>,
    pub account: BTreeMap<String, Access>,
    pub accounts: BTreeSet<String>,
    pub all_accounts: bool,
    /// The expiry field as the browser sends it (`datetime-local`, taken as
    /// UTC), empty for none.
    pub expires_at: String,
    /// The allowlist as typed: one network per line.
    pub networks: String,
    /// The key's own rate limit as typed; both empty: none.
    pub limit: LimitFields,
    /// The "only DPoP-bound tokens" checkbox.
    pub require_dpop: bool,
    pub credits: CreditFields,
    /// The federation rules as typed: one per line, issuer, audience and
    /// subject separated by spaces.
    pub federation: String,
}

/// Write, read or nothing from a resource's two checkboxes (write implies read).
fn access(form: &FormBody, field: &str) -> Option<Access> {
    if form.has(field, "write") {
        Some(Access::Write)
    } else if form.has(field, "read") {
        Some(Access::Read)
    } else {
        None
    }
}

fn perms_map(set: &PermSet) -> BTreeMap<String, Access> {
    set.iter().map(|(r, a)| (r.to_owned(), a)).collect()
}

fn perms_vec(map: &BTreeMap<String, Access>) -> Vec<Permission> {
    map.iter()
        .map(|(resource, access)| Permission {
            resource: resource.clone(),
            access: *access,
        })
        .collect()
}

impl FormValues {
    pub fn from_form(app: &Pages, form: &FormBody) -> FormValues {
        let level = |level: Level, prefix: &str| {
            app.catalog
                .of_level(level)
                .filter_map(|r| {
                    access(form, &format!("{prefix}.{}", r.name)).map(|a| (r.name.clone(), a))
                })
                .collect()
        };
        FormValues {
            name: form.get("name").unwrap_or("").to_owned(),
            org: level(Level::Org, "org"),
            account: level(Level::Account, "account"),
            accounts: form.all("account").map(str::to_owned).collect(),
            all_accounts: form.has("accounts_all", "on"),
            networks: form.get("allowed_networks").unwrap_or("").to_owned(),
            require_dpop: form.has("require_dpop", "on"),
            credits: CreditFields::posted(form),
            federation: form.get("federation").unwrap_or("").to_owned(),
            expires_at: form.get("expires_at").unwrap_or("").trim().to_owned(),
            limit: LimitFields::posted(
                form.get(rate_limit::REQUESTS),
                form.get(rate_limit::PER_SECONDS),
            ),
        }
    }

    /// Whether the field still shows `k`'s expiry (to the second, however the
    /// browser wrote it): an unchanged form keeps it, even when it has passed.
    pub fn same_expiry(&self, k: &KeyRecord) -> bool {
        let posted = self
            .expires_at_input()
            .map(|t| keygate_core::time::parse_rfc3339(&t));
        posted == k.expires_at.map(|t| Some(t.div_euclid(1000) * 1000))
    }

    /// The expiry as the service takes it: `None` for an empty field; a
    /// `datetime-local` value (`YYYY-MM-DDTHH:MM[:SS]`) is UTC; anything else
    /// goes as typed, for the service to check.
    pub fn expires_at_input(&self) -> Option<String> {
        let v = self.expires_at.as_str();
        let local = |len: usize| v.len() == len && v.as_bytes().get(10) == Some(&b'T');
        match v {
            "" => None,
            _ if local(16) => Some(format!("{v}:00Z")),
            _ if local(19) => Some(format!("{v}Z")),
            _ => Some(v.to_owned()),
        }
    }

    pub fn from_key(k: &KeyRecord) -> FormValues {
        let mut v = FormValues {
            name: k.name.clone(),
            expires_at: expiry_field(k.expires_at),
            networks: k.allowed_networks.to_strings().join("\n"),
            limit: LimitFields::of(k.rate_limit),
            require_dpop: k.require_dpop,
            credits: CreditFields::of(
                k.credits.as_ref(),
                k.credits
                    .map_or(0, |c| c.remaining_at(crate::state::clock::now_ms())),
            ),
            federation: super::federation::lines(&k.federation),
            ..FormValues::default()
        };
        if let KeyScope::Scoped {
            org_permissions,
            account_permissions,
        } = &k.scope
        {
            v.org = perms_map(org_permissions);
            v.account = perms_map(&account_permissions.resources);
            match &account_permissions.accounts {
                AccountSelection::All(_) => v.all_accounts = true,
                AccountSelection::Some(ids) => {
                    v.accounts = ids.iter().map(ToString::to_string).collect();
                }
            }
        }
        v
    }

    pub fn scope_input(&self) -> Result<ScopeInput, Error> {
        let accounts = if self.all_accounts {
            AccountSelection::All(AllAccounts::All)
        } else {
            let ids = self
                .accounts
                .iter()
                .map(|a| AccountId::parse(a))
                .collect::<Result<BTreeSet<_>, _>>()
                .map_err(|_| {
                    Error::invalid(
                        "account_permissions.accounts",
                        "choose accounts of this organization",
                    )
                })?;
            AccountSelection::Some(ids)
        };
        let account_permissions =
            (!accounts.is_empty() || !self.account.is_empty()).then(|| AccountPermissionsInput {
                accounts,
                resources: perms_vec(&self.account),
            });
        Ok(ScopeInput {
            org_permissions: perms_vec(&self.org),
            account_permissions,
            expires_at: None,
        })
    }
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

/// Account-level permissions removed (an edit that keeps only org-level ones).
pub fn no_accounts() -> AccountPermissionsInput {
    AccountPermissionsInput {
        accounts: AccountSelection::none(),
        resources: Vec::new(),
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

/// `Billing (Read)`, one entry per resource.
fn perm_list(set: &PermSet) -> Vec<String> {
    set.iter()
        .map(|(r, a)| {
            let a = if a == Access::Write { "Write" } else { "Read" };
            format!("{} ({a})", humanize(r))
        })
        .collect()
}

fn account_names(selection: &AccountSelection, accounts: &[AccountRecord]) -> String {
    match selection {
        AccountSelection::All(_) => "All accounts".to_owned(),
        AccountSelection::Some(ids) => {
            let mut names: Vec<String> = ids
                .iter()
                .map(|id| {
                    accounts
                        .iter()
                        .find(|a| &a.account_id == id)
                        .map_or_else(|| id.to_string(), |a| a.name.clone())
                })
                .collect();
            names.sort();
            names.join(", ")
        }
    }
}

/// What a key may do, in full, for its page: (level, what it reaches).
pub fn scope_lines(scope: &KeyScope, accounts: &[AccountRecord]) -> Vec<(&'static str, String)> {
    match scope {
        KeyScope::OrgAdmin => vec![
            (
                "Organization-level",
                "Every resource, Read and Write".to_owned(),
            ),
            ("Account-level", "None".to_owned()),
        ],
        KeyScope::AccountAdmin { account_id } => {
            let selection = AccountSelection::Some([account_id.clone()].into_iter().collect());
            vec![
                ("Organization-level", "None".to_owned()),
                (
                    "Account-level",
                    format!(
                        "{}: every resource, Read and Write",
                        account_names(&selection, accounts)
                    ),
                ),
            ]
        }
        KeyScope::Scoped {
            org_permissions,
            account_permissions,
        } => {
            let org = perm_list(org_permissions);
            let acct = perm_list(&account_permissions.resources);
            let none = |l: Vec<String>| {
                if l.is_empty() {
                    "None".to_owned()
                } else {
                    l.join(", ")
                }
            };
            let acct = if acct.is_empty() {
                "None".to_owned()
            } else {
                format!(
                    "{}: {}",
                    account_names(&account_permissions.accounts, accounts),
                    none(acct)
                )
            };
            vec![("Organization-level", none(org)), ("Account-level", acct)]
        }
    }
}

fn perm_words(set: &PermSet) -> String {
    let words = perm_list(set);
    match words.len() {
        0 => "—".into(),
        1..=3 => words.join(", "),
        n => format!("{} +{} more", words[..2].join(", "), n - 2),
    }
}

/// One-line summaries of a scoped key's organization- and account-level scope.
pub fn scope_summary(scope: &KeyScope, accounts: &[AccountRecord]) -> (String, String) {
    let KeyScope::Scoped {
        org_permissions,
        account_permissions,
    } = scope
    else {
        return ("—".into(), "—".into());
    };
    let acct = if account_permissions.resources.is_empty() {
        "—".to_owned()
    } else {
        let who = account_names(&account_permissions.accounts, accounts);
        format!("{who}: {}", perm_words(&account_permissions.resources))
    };
    (perm_words(org_permissions), acct)
}
