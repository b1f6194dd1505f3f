//! The `x-login-as` rules: which target a login with a given key produces.
//!
//! | key | `x-login-as` | target |
//! | --- | --- | --- |
//! | org admin | absent | the org |
//! | org admin | any account | refused |
//! | account admin of A | absent or A | A |
//! | account admin of A | another account | refused |
//! | scoped, one account, no org permissions | absent | that account |
//! | scoped, otherwise | absent | the org (org-level permissions only) |
//! | scoped | one of its accounts | that account, plus its org-level permissions |
//! | any | an account outside the key | refused |

use crate::ids::{AccountId, LoginTarget};
use crate::permission::{AccountSelection, KeyScope};

/// The key is valid but may not log in as the account asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this key cannot log in as that account")]
pub struct LoginError;

/// Applies the rules above. `org_has_account` says whether an account belongs to
/// the key's organization (for keys scoped to all accounts).
pub fn login_target(
    scope: &KeyScope,
    login_as: Option<&str>,
    org_has_account: impl Fn(&AccountId) -> bool,
) -> Result<LoginTarget, LoginError> {
    let login_as = match login_as {
        None => None,
        Some(s) => Some(AccountId::parse(s).map_err(|_| LoginError)?),
    };
    match (scope, login_as) {
        (KeyScope::OrgAdmin, None) => Ok(LoginTarget::Org),
        (KeyScope::OrgAdmin, Some(_)) => Err(LoginError),
        (KeyScope::AccountAdmin { account_id }, None) => {
            Ok(LoginTarget::Account(account_id.clone()))
        }
        (KeyScope::AccountAdmin { account_id }, Some(a)) if *account_id == a => {
            Ok(LoginTarget::Account(a))
        }
        (KeyScope::AccountAdmin { .. }, Some(_)) => Err(LoginError),
        (
            KeyScope::Scoped {
                org_permissions,
                account_permissions,
            },
            None,
        ) => match &account_permissions.accounts {
            AccountSelection::Some(ids) if ids.len() == 1 && org_permissions.is_empty() => {
                let only = ids.iter().next().cloned().ok_or(LoginError)?;
                Ok(LoginTarget::Account(only))
            }
            _ => Ok(LoginTarget::Org),
        },
        (
            KeyScope::Scoped {
                account_permissions,
                ..
            },
            Some(a),
        ) => {
            let covered = !account_permissions.resources.is_empty()
                && account_permissions.accounts.contains(&a)
                && org_has_account(&a);
            if covered {
                Ok(LoginTarget::Account(a))
            } else {
                Err(LoginError)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::{Access, AccountPermissions, AllAccounts, PermSet, Permission};

    fn perms(names: &[&str]) -> PermSet {
        names
            .iter()
            .map(|n| Permission {
                resource: n.to_string(),
                access: Access::Read,
            })
            .collect::<Vec<_>>()
            .into()
    }

    fn scoped(org: &[&str], accounts: AccountSelection) -> KeyScope {
        KeyScope::Scoped {
            org_permissions: perms(org),
            account_permissions: AccountPermissions {
                accounts,
                resources: perms(&["balances"]),
            },
        }
    }

    fn ids(n: usize) -> Vec<AccountId> {
        (0..n).map(|_| AccountId::generate()).collect()
    }

    fn some(ids: &[AccountId]) -> AccountSelection {
        AccountSelection::Some(ids.iter().cloned().collect())
    }

    const ANY: fn(&AccountId) -> bool = |_| true;

    #[test]
    fn org_admin_key_without_login_as_targets_the_org() {
        assert_eq!(
            login_target(&KeyScope::OrgAdmin, None, ANY),
            Ok(LoginTarget::Org)
        );
    }

    #[test]
    fn org_admin_key_with_any_login_as_is_refused() {
        let a = ids(1);
        assert_eq!(
            login_target(&KeyScope::OrgAdmin, Some(a[0].as_str()), ANY),
            Err(LoginError)
        );
    }

    #[test]
    fn account_admin_key_without_login_as_targets_its_account() {
        let a = ids(1);
        let s = KeyScope::AccountAdmin {
            account_id: a[0].clone(),
        };
        assert_eq!(
            login_target(&s, None, ANY),
            Ok(LoginTarget::Account(a[0].clone()))
        );
    }

    #[test]
    fn account_admin_key_naming_its_own_account_is_allowed() {
        let a = ids(1);
        let s = KeyScope::AccountAdmin {
            account_id: a[0].clone(),
        };
        assert_eq!(
            login_target(&s, Some(a[0].as_str()), ANY),
            Ok(LoginTarget::Account(a[0].clone()))
        );
    }

    #[test]
    fn account_admin_key_naming_another_account_is_refused() {
        let a = ids(2);
        let s = KeyScope::AccountAdmin {
            account_id: a[0].clone(),
        };
        assert_eq!(login_target(&s, Some(a[1].as_str()), ANY), Err(LoginError));
    }

    #[test]
    fn scoped_key_with_one_account_and_no_org_permissions_defaults_to_that_account() {
        let a = ids(1);
        let s = scoped(&[], some(&a));
        assert_eq!(
            login_target(&s, None, ANY),
            Ok(LoginTarget::Account(a[0].clone()))
        );
    }

    #[test]
    fn scoped_key_with_several_accounts_without_login_as_targets_the_org() {
        let a = ids(2);
        assert_eq!(
            login_target(&scoped(&[], some(&a)), None, ANY),
            Ok(LoginTarget::Org)
        );
    }

    #[test]
    fn scoped_key_with_several_accounts_and_login_as_targets_that_account() {
        let a = ids(2);
        assert_eq!(
            login_target(&scoped(&[], some(&a)), Some(a[1].as_str()), ANY),
            Ok(LoginTarget::Account(a[1].clone()))
        );
    }

    #[test]
    fn scoped_key_with_org_and_account_permissions_without_login_as_targets_the_org() {
        let a = ids(1);
        let s = scoped(&["billing_invoices"], some(&a));
        assert_eq!(login_target(&s, None, ANY), Ok(LoginTarget::Org));
        assert_eq!(
            login_target(&s, Some(a[0].as_str()), ANY),
            Ok(LoginTarget::Account(a[0].clone()))
        );
    }

    #[test]
    fn login_as_an_account_outside_the_key_is_refused() {
        let a = ids(2);
        let s = scoped(&[], some(&a[..1]));
        assert_eq!(login_target(&s, Some(a[1].as_str()), ANY), Err(LoginError));
    }

    #[test]
    fn keys_for_all_accounts_accept_only_accounts_of_their_org() {
        let a = ids(2);
        let s = scoped(&[], AccountSelection::All(AllAccounts::All));
        let mine = a[0].clone();
        let in_org = move |x: &AccountId| *x == mine;
        assert_eq!(
            login_target(&s, Some(a[0].as_str()), &in_org),
            Ok(LoginTarget::Account(a[0].clone()))
        );
        assert_eq!(
            login_target(&s, Some(a[1].as_str()), &in_org),
            Err(LoginError)
        );
    }

    #[test]
    fn org_only_scoped_key_cannot_log_in_as_an_account() {
        let a = ids(1);
        let s = KeyScope::Scoped {
            org_permissions: perms(&["billing_invoices"]),
            account_permissions: AccountPermissions {
                accounts: AccountSelection::none(),
                resources: PermSet::default(),
            },
        };
        assert_eq!(login_target(&s, Some(a[0].as_str()), ANY), Err(LoginError));
        assert_eq!(login_target(&s, None, ANY), Ok(LoginTarget::Org));
    }

    #[test]
    fn a_malformed_login_as_is_refused() {
        assert_eq!(
            login_target(
                &scoped(&[], AccountSelection::All(AllAccounts::All)),
                Some("x"),
                ANY
            ),
            Err(LoginError)
        );
    }
}
