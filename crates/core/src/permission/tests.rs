//! Tests of permissions, key scopes and scope narrowing.

use super::*;

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
    let e = KeyScope::scoped(&[], &sel, &[p("balances", Access::Read)], &c, |_| false).unwrap_err();
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
