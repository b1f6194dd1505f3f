//! The scoped key form's values (`FormValues`): as posted, as read from a key,
//! and what the service takes of them.

use std::collections::{BTreeMap, BTreeSet};

use keygate_core::permission::{AllAccounts, Permission};
use keygate_core::{Access, AccountId, AccountSelection, KeyScope, Level, PermSet};
use keygate_store::KeyRecord;

use crate::service::Error;
use crate::service::keys::{AccountPermissionsInput, ScopeInput};
use crate::ui::Pages;
use crate::ui::extract::FormBody;
use crate::ui::key_terms::expiry_field;
use crate::ui::rate_limit::{self, LimitFields};
use crate::ui::routes::keys::credits::CreditFields;
use crate::ui::routes::keys::federation;

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
            federation: federation::lines(&k.federation),
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

/// Account-level permissions removed (an edit that keeps only org-level ones).
pub fn no_accounts() -> AccountPermissionsInput {
    AccountPermissionsInput {
        accounts: AccountSelection::none(),
        resources: Vec::new(),
    }
}
