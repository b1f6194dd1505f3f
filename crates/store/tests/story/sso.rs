//! The store story of single sign-on: settings kept per organization, each
//! email domain claimed by one organization, and a sign-in through the
//! provider that adds the person, the membership and the session at once.

use keygate_core::{OrgId, Role};
use keygate_store::{SsoSettingsRecord, Store, StoreError};

use crate::people::session;
use crate::story::{NOW, acme, event, user};

fn settings(org_id: &OrgId, domains: &[&str], enforce: bool) -> SsoSettingsRecord {
    SsoSettingsRecord {
        org_id: org_id.clone(),
        issuer: "https://login.example.test".into(),
        client_id: "keygate".into(),
        sealed_secret: "s1.sealed".into(),
        domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        enforce,
        default_role: Role::Developer,
        created_at: NOW,
        updated_at: NOW,
    }
}

pub async fn sso_settings_claim_each_domain_once_and_a_sign_in_adds_the_member(
    store: &dyn Store,
    _pg: bool,
) {
    let a = acme(store).await;
    let org = &a.org.org_id;
    assert_eq!(store.sso_settings(org).await.unwrap(), None);
    let put = || event(Some(org), "sso.updated", None);
    let s = settings(org, &["example.test", "example.org"], false);
    store.put_sso_settings(&s, &put()).await.unwrap();
    assert_eq!(store.sso_settings(org).await.unwrap(), Some(s.clone()));
    // Replaced: the domain no longer listed is free again.
    let s = settings(org, &["example.test"], true);
    store.put_sso_settings(&s, &put()).await.unwrap();
    assert_eq!(
        store.sso_settings_for_domain("example.test").await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(
        store.sso_settings_for_domain("example.org").await.unwrap(),
        None
    );

    // Another organization cannot claim example.test, and nothing of it is kept.
    let other = OrgId::generate();
    let other_org = keygate_store::OrgRecord {
        org_id: other.clone(),
        name: "Other".into(),
        created_at: NOW,
    };
    store
        .create_org(
            &other_org,
            &[],
            &user("boss@other.test"),
            &event(Some(&other), "org.created", None),
        )
        .await
        .unwrap();
    let taken = store
        .put_sso_settings(
            &settings(&other, &["other.test", "example.test"], false),
            &event(Some(&other), "sso.updated", None),
        )
        .await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    assert_eq!(store.sso_settings(&other).await.unwrap(), None);
    assert_eq!(
        store.sso_settings_for_domain("other.test").await.unwrap(),
        None
    );

    // A new person signs in: account, membership and session in one go.
    let newdev = user("newdev@example.test");
    let signed = || event(Some(org), "session.created", None);
    store
        .sso_sign_in(
            org,
            &newdev,
            true,
            Some(Role::Developer),
            &session(&newdev.user_id, b"t1"),
            &[signed()],
        )
        .await
        .unwrap();
    assert_eq!(
        store.role(org, &newdev.user_id).await.unwrap(),
        Some(Role::Developer)
    );
    // Again, as a member now: only a session.
    store
        .sso_sign_in(
            org,
            &newdev,
            false,
            None,
            &session(&newdev.user_id, b"t2"),
            &[signed()],
        )
        .await
        .unwrap();
    let twice = store
        .sso_sign_in(
            org,
            &newdev,
            false,
            Some(Role::Viewer),
            &session(&newdev.user_id, b"t3"),
            &[signed()],
        )
        .await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))));
    assert_eq!(
        store.role(org, &newdev.user_id).await.unwrap(),
        Some(Role::Developer)
    );

    store
        .delete_sso_settings(org, &event(Some(org), "sso.deleted", None))
        .await
        .unwrap();
    assert_eq!(
        store.sso_settings_for_domain("example.test").await.unwrap(),
        None
    );
    let gone = store
        .delete_sso_settings(org, &event(Some(org), "sso.deleted", None))
        .await;
    assert!(matches!(gone, Err(StoreError::NotFound)));
}
