//! Rate limits: a key's own and an organization's default, kept and announced.

use crate::story::{NOW, acme, event, key, real_now_ms, rotation, scoped};
use keygate_core::crypto::sha256;
use keygate_core::network::Networks;
use keygate_core::{OrgId, RateLimit};
use keygate_store::{Change, KeyEdit, KeyKind, Store, StoreError};
use std::time::Duration;

/// Rate limits: a key's own, kept through edits and read back by the cache's
/// loaders; an organization's default, set, listed and cleared.
pub async fn rate_limits_are_kept_on_keys_and_as_an_organization_default(
    store: &dyn Store,
    pg: bool,
) {
    let feed = store.subscribe_changes(real_now_ms).await.unwrap();
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let five = RateLimit {
        requests: 5,
        per_seconds: 60,
    };
    let mut s = key(
        org_id,
        KeyKind::Scoped,
        None,
        scoped(&acme.accounts[..1], "balances"),
        "s",
    );
    s.rate_limit = Some(five);
    store
        .insert_key(&s, &event(Some(org_id), "scoped_key.created", None))
        .await
        .unwrap();
    let read = store.key_by_client_id(&s.client_id).await.unwrap().unwrap();
    assert_eq!(read.rate_limit, Some(five));
    let mut creds = Vec::new();
    store
        .each_key_credential(&mut |k| creds.push(k))
        .await
        .unwrap();
    let cred = creds.iter().find(|k| k.client_id == s.client_id).unwrap();
    assert_eq!(cred.rate_limit, Some(five));

    let edited = store
        .update_key(
            org_id,
            &s.client_id,
            &KeyEdit {
                name: "renamed",
                scope: &s.scope,
                rate_limit: None,
                expires_at: None,
                allowed_networks: &Networks::default(),
                require_dpop: false,
                credits: None,
                federation: &Default::default(),
            },
            NOW + 1,
            &event(Some(org_id), "scoped_key.updated", None),
        )
        .await
        .unwrap();
    assert_eq!(edited.rate_limit, None);
    let ten = RateLimit {
        requests: 10,
        per_seconds: 1,
    };
    let set = store
        .set_key_rate_limit(
            org_id,
            &s.client_id,
            Some(ten),
            NOW + 2,
            &event(Some(org_id), "scoped_key.updated", None),
        )
        .await
        .unwrap();
    assert_eq!((set.rate_limit, set.updated_at), (Some(ten), NOW + 2));

    // A regenerate writes the limit the key has afterwards, with the secret.
    let regenerated = store
        .regenerate_key(
            org_id,
            &s.client_id,
            &keygate_store::Rotation {
                rate_limit: Some(five),
                ..rotation(sha256(b"limited"))
            },
            None,
            NOW + 3,
            &event(Some(org_id), "scoped_key.regenerated", None),
        )
        .await
        .unwrap();
    assert_eq!(regenerated.rate_limit, Some(five));
    let read = store.key_by_client_id(&s.client_id).await.unwrap().unwrap();
    assert_eq!(read.rate_limit, Some(five));

    assert_eq!(store.org_rate_limit(org_id).await.unwrap(), None);
    store
        .set_org_rate_limit(
            org_id,
            Some(five),
            &event(Some(org_id), "org.rate_limit_changed", None),
        )
        .await
        .unwrap();
    assert_eq!(store.org_rate_limit(org_id).await.unwrap(), Some(five));
    assert!(
        store
            .org_rate_limits()
            .await
            .unwrap()
            .contains(&(org_id.clone(), five))
    );
    store
        .set_org_rate_limit(
            org_id,
            None,
            &event(Some(org_id), "org.rate_limit_changed", None),
        )
        .await
        .unwrap();
    assert_eq!(store.org_rate_limit(org_id).await.unwrap(), None);
    assert!(
        !store
            .org_rate_limits()
            .await
            .unwrap()
            .iter()
            .any(|(o, _)| o == org_id)
    );
    let nowhere = OrgId::generate();
    assert!(matches!(
        store.org_rate_limit(&nowhere).await,
        Err(StoreError::NotFound)
    ));

    // Other instances hear of an org default change.
    if let Some(mut feed) = feed {
        assert!(pg);
        let mut orgs = 0;
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        while orgs < 2 {
            match tokio::time::timeout_at(until, feed.recv()).await {
                Ok(Some(Change::Org(o))) if &o == org_id => orgs += 1,
                Ok(Some(_)) => {}
                other => panic!("two org notices within 5 s, got {other:?}"),
            }
        }
    }
}
