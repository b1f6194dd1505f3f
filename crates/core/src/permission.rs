//! Permissions and key scopes.
//!
//! `read` allows GET and HEAD; `write` allows every method, so write implies read.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Level};
use crate::ids::{AccountId, LoginTarget};
use crate::text::{Invalid, quote};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
}

impl Access {
    /// The access an HTTP method needs: GET and HEAD read, everything else writes.
    pub fn for_method(method: &str) -> Access {
        if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
            Access::Read
        } else {
            Access::Write
        }
    }

    pub fn allows(self, needed: Access) -> bool {
        self >= needed
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// One permission as clients send and receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    pub resource: String,
    pub access: Access,
}

/// Resource name → access, at most one entry per resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Permission>", into = "Vec<Permission>")]
pub struct PermSet(BTreeMap<String, Access>);

impl PermSet {
    pub fn get(&self, resource: &str) -> Option<Access> {
        self.0.get(resource).copied()
    }

    pub fn allows(&self, resource: &str, needed: Access) -> bool {
        self.get(resource).is_some_and(|a| a.allows(needed))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Access)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Every resource of `level` in the catalog with write access.
    pub fn everything(catalog: &Catalog, level: Level) -> PermSet {
        PermSet(
            catalog
                .of_level(level)
                .map(|r| (r.name.clone(), Access::Write))
                .collect(),
        )
    }

    /// Checks each permission against the catalog; the same resource listed twice
    /// keeps the stronger access.
    pub fn parse(
        perms: &[Permission],
        catalog: &Catalog,
        level: Level,
        source: &str,
    ) -> Result<PermSet, Invalid> {
        let mut set = BTreeMap::new();
        for (i, p) in perms.iter().enumerate() {
            let at = format!("{source}[{i}].resource");
            match catalog.get(&p.resource) {
                None => {
                    return Err(Invalid::new(
                        at,
                        format!("unknown resource {}", quote(&p.resource)),
                    ));
                }
                Some(r) if r.level != level => {
                    let lvl = match r.level {
                        Level::Org => "organization",
                        Level::Account => "account",
                    };
                    return Err(Invalid::new(
                        at,
                        format!("{} is an {lvl}-level resource", quote(&p.resource)),
                    ));
                }
                Some(_) => {}
            }
            let e = set.entry(p.resource.clone()).or_insert(p.access);
            *e = (*e).max(p.access);
        }
        Ok(PermSet(set))
    }
}

impl From<Vec<Permission>> for PermSet {
    fn from(v: Vec<Permission>) -> PermSet {
        let mut set = BTreeMap::new();
        for p in v {
            let e = set.entry(p.resource).or_insert(p.access);
            *e = (*e).max(p.access);
        }
        PermSet(set)
    }
}

impl From<PermSet> for Vec<Permission> {
    fn from(s: PermSet) -> Vec<Permission> {
        s.0.into_iter()
            .map(|(resource, access)| Permission { resource, access })
            .collect()
    }
}

/// Which accounts a scoped key's account-level permissions apply to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AccountSelection {
    /// Every account of the organization, including ones created later.
    All(AllAccounts),
    Some(BTreeSet<AccountId>),
}

/// The literal string `"all"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllAccounts {
    All,
}

impl AccountSelection {
    pub fn none() -> AccountSelection {
        AccountSelection::Some(BTreeSet::new())
    }

    pub fn contains(&self, id: &AccountId) -> bool {
        match self {
            AccountSelection::All(_) => true,
            AccountSelection::Some(set) => set.contains(id),
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, AccountSelection::Some(s) if s.is_empty())
    }
}

/// Account-level permissions as clients send and receive them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPermissions {
    pub accounts: AccountSelection,
    pub resources: PermSet,
}

/// What one key may reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KeyScope {
    /// Every org-level resource, never account-level ones.
    OrgAdmin,
    /// Every account-level resource of one account.
    AccountAdmin { account_id: AccountId },
    Scoped {
        org_permissions: PermSet,
        account_permissions: AccountPermissions,
    },
}

impl KeyScope {
    /// Builds a scoped key's scope from client input. `org_has_account` says which
    /// accounts exist in the key's organization.
    pub fn scoped(
        org_permissions: &[Permission],
        accounts: &AccountSelection,
        account_resources: &[Permission],
        catalog: &Catalog,
        org_has_account: impl Fn(&AccountId) -> bool,
    ) -> Result<KeyScope, Invalid> {
        let org = PermSet::parse(org_permissions, catalog, Level::Org, "org_permissions")?;
        let acct = PermSet::parse(
            account_resources,
            catalog,
            Level::Account,
            "account_permissions.resources",
        )?;
        if let AccountSelection::Some(ids) = accounts
            && let Some(bad) = ids.iter().find(|id| !org_has_account(id))
        {
            return Err(Invalid::new(
                "account_permissions.accounts",
                format!("{bad} is not an account of this organization"),
            ));
        }
        if accounts.is_empty() != acct.is_empty() {
            return Err(Invalid::new(
                "account_permissions",
                "choose both accounts and at least one account-level resource, or neither",
            ));
        }
        if org.is_empty() && acct.is_empty() {
            return Err(Invalid::new(
                "org_permissions",
                "a scoped key needs at least one permission",
            ));
        }
        Ok(KeyScope::Scoped {
            org_permissions: org,
            account_permissions: AccountPermissions {
                accounts: accounts.clone(),
                resources: acct,
            },
        })
    }

    /// Does a token for `target` under this scope allow `needed` on `resource`?
    pub fn allows(
        &self,
        resource: &str,
        level: Level,
        needed: Access,
        target: &LoginTarget,
    ) -> bool {
        let account = match target {
            LoginTarget::Account(a) => Some(a),
            LoginTarget::Org => None,
        };
        self.allows_for(resource, level, needed, account)
    }

    /// [`KeyScope::allows`] for a token whose target is `account` (`None`:
    /// the organization), without building a [`LoginTarget`] (the token
    /// check's hot path: no copy of the account id).
    pub fn allows_for(
        &self,
        resource: &str,
        level: Level,
        needed: Access,
        account: Option<&AccountId>,
    ) -> bool {
        match (level, self, account) {
            (Level::Org, KeyScope::OrgAdmin, _) => true,
            (
                Level::Org,
                KeyScope::Scoped {
                    org_permissions, ..
                },
                _,
            ) => org_permissions.allows(resource, needed),
            (Level::Account, KeyScope::AccountAdmin { account_id }, Some(a)) => account_id == a,
            (
                Level::Account,
                KeyScope::Scoped {
                    account_permissions: ap,
                    ..
                },
                Some(a),
            ) => ap.accounts.contains(a) && ap.resources.allows(resource, needed),
            _ => false,
        }
    }

    /// The permissions a token for `target` carries, as `resource:access` words
    /// (OAuth's space-separated `scope`), for introspection and offline verifiers.
    pub fn scope_string(&self, catalog: &Catalog, target: &LoginTarget) -> String {
        let mut words = Vec::new();
        for r in catalog.resources() {
            let access = [Access::Write, Access::Read]
                .into_iter()
                .find(|a| self.allows(&r.name, r.level, *a, target));
            if let Some(a) = access {
                words.push(format!("{}:{}", r.name, a.as_str()));
            }
        }
        words.join(" ")
    }
}

/// OAuth `scope` narrowing (RFC 6749 §3.3): the space-separated
/// `resource:read|write` words asked for, each within `granted` (a
/// [`KeyScope::scope_string`]), or `None` if one asks for more or is not a
/// word. Duplicates are merged, keeping the wider access.
pub fn narrow_scope(granted: &str, requested: &str) -> Option<String> {
    let mut asked: BTreeMap<&str, Access> = BTreeMap::new();
    for word in requested.split(' ').filter(|w| !w.is_empty()) {
        let (resource, access) = word.split_once(':')?;
        let access = match access {
            "read" => Access::Read,
            "write" => Access::Write,
            _ => return None,
        };
        if !scope_allows(granted, resource, access) {
            return None;
        }
        let e = asked.entry(resource).or_insert(access);
        *e = (*e).max(access);
    }
    if asked.is_empty() {
        return None;
    }
    let words: Vec<String> = asked
        .iter()
        .map(|(r, a)| format!("{r}:{}", a.as_str()))
        .collect();
    Some(words.join(" "))
}

/// Whether a scope string (`resource:access` words) allows `needed` on
/// `resource`: the check of a narrowed token, beside its key's scope.
pub fn scope_allows(scope: &str, resource: &str, needed: Access) -> bool {
    scope.split(' ').any(|w| {
        w.split_once(':').is_some_and(|(r, a)| {
            r == resource
                && match a {
                    "write" => true,
                    "read" => needed == Access::Read,
                    _ => false,
                }
        })
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_scope_narrows_only_to_what_it_grants() {
        let granted = "balances:read payment_intents:write";
        assert_eq!(
            narrow_scope(granted, "balances:read").as_deref(),
            Some("balances:read")
        );
        assert_eq!(
            narrow_scope(granted, "payment_intents:read balances:read").as_deref(),
            Some("balances:read payment_intents:read")
        );
        for wider in [
            "balances:write",
            "refunds:read",
            "balances",
            "balances:all",
            "",
            " ",
        ] {
            assert_eq!(narrow_scope(granted, wider), None, "{wider:?}");
        }
        assert!(scope_allows("balances:read", "balances", Access::Read));
        assert!(!scope_allows("balances:read", "balances", Access::Write));
        assert!(scope_allows("balances:write", "balances", Access::Read));
        assert!(!scope_allows("balances:write", "refunds", Access::Read));
    }
    use super::*;

    fn p(resource: &str, access: Access) -> Permission {
        Permission {
            resource: resource.into(),
            access,
        }
    }

    #[test]
    fn read_is_get_and_head_and_write_is_everything() {
        assert_eq!(Access::for_method("GET"), Access::Read);
        assert_eq!(Access::for_method("HEAD"), Access::Read);
        for m in ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            assert_eq!(Access::for_method(m), Access::Write);
        }
        assert!(Access::Write.allows(Access::Read));
        assert!(!Access::Read.allows(Access::Write));
    }

    #[test]
    fn unknown_or_wrong_level_resources_are_refused_with_their_place() {
        let c = Catalog::default_catalog();
        let e = PermSet::parse(
            &[p("nope", Access::Read)],
            &c,
            Level::Org,
            "org_permissions",
        )
        .unwrap_err();
        assert_eq!(e.source, "org_permissions[0].resource");
        let e = PermSet::parse(
            &[
                p("billing_invoices", Access::Read),
                p("balances", Access::Read),
            ],
            &c,
            Level::Org,
            "org_permissions",
        )
        .unwrap_err();
        assert_eq!(e.source, "org_permissions[1].resource");
    }

    #[test]
    fn a_resource_listed_twice_keeps_the_stronger_access() {
        let c = Catalog::default_catalog();
        let s = PermSet::parse(
            &[p("balances", Access::Write), p("balances", Access::Read)],
            &c,
            Level::Account,
            "x",
        )
        .unwrap();
        assert_eq!(s.get("balances"), Some(Access::Write));
    }

    #[test]
    fn scoped_keys_need_a_permission_and_accounts_of_their_org() {
        let c = Catalog::default_catalog();
        let a = AccountId::generate();
        let sel = AccountSelection::Some([a.clone()].into());
        let e = KeyScope::scoped(&[], &AccountSelection::none(), &[], &c, |_| true).unwrap_err();
        assert_eq!(e.source, "org_permissions");
        let e =
            KeyScope::scoped(&[], &sel, &[p("balances", Access::Read)], &c, |_| false).unwrap_err();
        assert_eq!(e.source, "account_permissions.accounts");
        let e = KeyScope::scoped(&[], &sel, &[], &c, |_| true).unwrap_err();
        assert_eq!(e.source, "account_permissions");
        assert!(KeyScope::scoped(&[], &sel, &[p("balances", Access::Read)], &c, |_| true).is_ok());
    }

    #[test]
    fn account_selection_reads_all_or_a_list() {
        let all: AccountSelection = serde_json::from_str(r#""all""#).unwrap();
        assert!(all.contains(&AccountId::generate()));
        let a = AccountId::generate();
        let some: AccountSelection = serde_json::from_str(&format!(r#"["{a}"]"#)).unwrap();
        assert!(some.contains(&a));
        assert!(serde_json::from_str::<AccountSelection>(r#""every""#).is_err());
    }

    #[test]
    fn org_admin_reaches_org_resources_only() {
        let s = KeyScope::OrgAdmin;
        let acct = LoginTarget::Account(AccountId::generate());
        assert!(s.allows(
            "billing_invoices",
            Level::Org,
            Access::Write,
            &LoginTarget::Org
        ));
        assert!(!s.allows("balances", Level::Account, Access::Read, &acct));
    }

    #[test]
    fn account_admin_reaches_its_own_account_only() {
        let a = AccountId::generate();
        let s = KeyScope::AccountAdmin {
            account_id: a.clone(),
        };
        assert!(s.allows(
            "balances",
            Level::Account,
            Access::Write,
            &LoginTarget::Account(a)
        ));
        let b = LoginTarget::Account(AccountId::generate());
        assert!(!s.allows("balances", Level::Account, Access::Read, &b));
        assert!(!s.allows("accounts", Level::Org, Access::Read, &b));
    }

    #[test]
    fn scoped_key_checks_account_resource_and_access() {
        let c = Catalog::default_catalog();
        let a = AccountId::generate();
        let s = KeyScope::scoped(
            &[p("billing_invoices", Access::Read)],
            &AccountSelection::Some([a.clone()].into()),
            &[p("balances", Access::Read)],
            &c,
            |_| true,
        )
        .unwrap();
        let ta = LoginTarget::Account(a);
        assert!(s.allows("balances", Level::Account, Access::Read, &ta));
        assert!(!s.allows("balances", Level::Account, Access::Write, &ta));
        assert!(!s.allows("balances", Level::Account, Access::Read, &LoginTarget::Org));
        assert!(s.allows("billing_invoices", Level::Org, Access::Read, &ta));
        assert!(s.allows(
            "billing_invoices",
            Level::Org,
            Access::Read,
            &LoginTarget::Org
        ));
        let other = LoginTarget::Account(AccountId::generate());
        assert!(!s.allows("balances", Level::Account, Access::Read, &other));
        assert_eq!(
            s.scope_string(&c, &ta),
            "billing_invoices:read balances:read"
        );
        assert_eq!(
            s.scope_string(&c, &LoginTarget::Org),
            "billing_invoices:read"
        );
    }

    #[test]
    fn scopes_round_trip_through_json() {
        let a = AccountId::generate();
        for s in [
            KeyScope::OrgAdmin,
            KeyScope::AccountAdmin {
                account_id: a.clone(),
            },
            KeyScope::Scoped {
                org_permissions: vec![p("accounts", Access::Read)].into(),
                account_permissions: AccountPermissions {
                    accounts: AccountSelection::All(AllAccounts::All),
                    resources: vec![p("balances", Access::Write)].into(),
                },
            },
        ] {
            let j = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<KeyScope>(&j).unwrap(), s);
        }
    }
}
