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
        self.allows_for(resource, level, needed, target.account())
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
        self.access_for(resource, level, account)
            .is_some_and(|a| a.allows(needed))
    }

    /// The access a token for `account` (`None`: the organization) has to
    /// `resource`, if any: admin keys write everything of their level.
    fn access_for(
        &self,
        resource: &str,
        level: Level,
        account: Option<&AccountId>,
    ) -> Option<Access> {
        match (level, self, account) {
            (Level::Org, KeyScope::OrgAdmin, _) => Some(Access::Write),
            (
                Level::Org,
                KeyScope::Scoped {
                    org_permissions, ..
                },
                _,
            ) => org_permissions.get(resource),
            (Level::Account, KeyScope::AccountAdmin { account_id }, Some(a)) => {
                (account_id == a).then_some(Access::Write)
            }
            (
                Level::Account,
                KeyScope::Scoped {
                    account_permissions: ap,
                    ..
                },
                Some(a),
            ) if ap.accounts.contains(a) => ap.resources.get(resource),
            _ => None,
        }
    }

    /// The permissions a token for `target` carries, as `resource:access` words
    /// (OAuth's space-separated `scope`), for introspection and offline verifiers.
    pub fn scope_string(&self, catalog: &Catalog, target: &LoginTarget) -> String {
        // Written into one string: on the hot path (every login and every
        // introspection), a word each and a join were a dozen allocations.
        let account = target.account();
        let mut words = String::with_capacity(128);
        for r in catalog.resources() {
            // One lookup per resource (asking for write, then read, was two).
            if let Some(a) = self.access_for(&r.name, r.level, account) {
                if !words.is_empty() {
                    words.push(' ');
                }
                words.push_str(&r.name);
                words.push(':');
                words.push_str(a.as_str());
            }
        }
        words
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
mod tests;
