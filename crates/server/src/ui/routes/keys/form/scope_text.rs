//! A key's scope in words: in full on its page and in the usage and audit
//! pages (`scope_lines`), and in one line a level in the list
//! (`scope_summary`).

use keygate_core::{Access, AccountSelection, KeyScope, PermSet};
use keygate_store::AccountRecord;

use crate::ui::layout::humanize;

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
