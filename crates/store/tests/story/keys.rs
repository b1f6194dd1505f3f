//! Keys as the store keeps them: digests only, a generation per regenerate, one
//! admin key per owner, scoped keys edited and deleted, the audit log paged,
//! and concurrent regenerates each committed once.

use crate::story::{NOW, acme, event, futures_join_all, key, rotation, scoped};
use keygate_core::crypto::sha256;
use keygate_core::network::Networks;
use keygate_core::permission::KeyScope;
use keygate_core::{ClientId, OrgId};
use keygate_store::{AuditEvent, AuditQuery, KeyEdit, KeyKind, Store, StoreError};
use serde_json::json;

pub async fn keys_are_stored_as_digests_and_regenerate_bumps_the_generation(
    store: &dyn Store,
    _pg: bool,
) {
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let k = key(
        org_id,
        KeyKind::Admin,
        Some(org_id.as_str()),
        KeyScope::OrgAdmin,
        "first",
    );
    store
        .insert_key(
            &k,
            &event(Some(org_id), "admin_key.generated", Some(&k.client_id)),
        )
        .await
        .unwrap();
    assert_eq!(
        store.key(org_id, &k.client_id).await.unwrap().as_ref(),
        Some(&k)
    );
    assert_eq!(
        store.key_by_client_id(&k.client_id).await.unwrap().as_ref(),
        Some(&k)
    );
    assert_eq!(
        store.key(&OrgId::generate(), &k.client_id).await.unwrap(),
        None,
        "another org sees nothing"
    );

    let new_hash = sha256(b"second");
    let r = store
        .regenerate_key(
            org_id,
            &k.client_id,
            &rotation(new_hash),
            None,
            NOW + 5,
            &event(Some(org_id), "admin_key.regenerated", Some(&k.client_id)),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            r.generation,
            r.secret_hash,
            r.updated_at,
            r.client_id.clone()
        ),
        (2, new_hash, NOW + 5, k.client_id.clone())
    );
    assert_eq!(store.all_keys().await.unwrap(), vec![r]);
    assert!(matches!(
        store
            .regenerate_key(
                org_id,
                &ClientId::generate(),
                &rotation(new_hash),
                None,
                NOW,
                &event(Some(org_id), "x", None)
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn an_owner_has_at_most_one_admin_key(store: &dyn Store, _pg: bool) {
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let hk = &acme.accounts[0].account_id;
    let scope = KeyScope::AccountAdmin {
        account_id: hk.clone(),
    };
    let first = key(
        org_id,
        KeyKind::Admin,
        Some(hk.as_str()),
        scope.clone(),
        "a",
    );
    store
        .insert_key(&first, &event(Some(org_id), "admin_key.generated", None))
        .await
        .unwrap();
    let second = key(org_id, KeyKind::Admin, Some(hk.as_str()), scope, "b");
    assert!(matches!(
        store
            .insert_key(&second, &event(Some(org_id), "admin_key.generated", None))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.keys(org_id).await.unwrap().len(), 1);
    // Nothing half-written: the refused insert left no audit event either.
    let events = store
        .audit_events(&AuditQuery {
            org_id: org_id.clone(),
            client_id: None,
            before: None,
            after: None,
            actor: None,
            action: None,
            limit: 50,
        })
        .await
        .unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "admin_key.generated")
            .count(),
        1
    );
}

pub async fn scoped_keys_can_be_edited_and_deleted_but_admin_keys_cannot(
    store: &dyn Store,
    _pg: bool,
) {
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let s = key(
        org_id,
        KeyKind::Scoped,
        None,
        scoped(&acme.accounts[..1], "balances"),
        "s",
    );
    store
        .insert_key(&s, &event(Some(org_id), "scoped_key.created", None))
        .await
        .unwrap();
    let new_scope = scoped(&acme.accounts, "payment_intents");
    let edited = store
        .update_key(
            org_id,
            &s.client_id,
            &KeyEdit {
                name: "renamed",
                scope: &new_scope,
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
    assert_eq!(
        (edited.name.as_str(), &edited.scope, edited.generation),
        ("renamed", &new_scope, 1)
    );

    let admin = key(
        org_id,
        KeyKind::Admin,
        Some(org_id.as_str()),
        KeyScope::OrgAdmin,
        "a",
    );
    store
        .insert_key(&admin, &event(Some(org_id), "admin_key.generated", None))
        .await
        .unwrap();
    assert!(matches!(
        store
            .update_key(
                org_id,
                &admin.client_id,
                &KeyEdit {
                    name: "x",
                    scope: &new_scope,
                    rate_limit: None,
                    expires_at: None,
                    allowed_networks: &Networks::default(),
                    require_dpop: false,
                    credits: None,
                    federation: &Default::default(),
                },
                NOW,
                &event(Some(org_id), "x", None)
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .delete_key(org_id, &admin.client_id, &event(Some(org_id), "x", None))
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .delete_key(
            org_id,
            &s.client_id,
            &event(Some(org_id), "scoped_key.deleted", None),
        )
        .await
        .unwrap();
    assert_eq!(store.key_by_client_id(&s.client_id).await.unwrap(), None);
    assert_eq!(store.keys(org_id).await.unwrap(), vec![admin]);
}

pub async fn the_audit_log_pages_newest_first_and_filters_by_key(store: &dyn Store, _pg: bool) {
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let c = ClientId::generate();
    let batch: Vec<AuditEvent> = (0..5)
        .map(|i| {
            event(
                Some(org_id),
                &format!("login.failed.{i}"),
                (i % 2 == 0).then_some(&c),
            )
        })
        .collect();
    store.record_audit(&batch).await.unwrap();
    let q = |client_id: Option<ClientId>, before, limit| AuditQuery {
        org_id: org_id.clone(),
        client_id,
        before,
        after: None,
        actor: None,
        action: None,
        limit,
    };
    let all = store.audit_events(&q(None, None, 50)).await.unwrap();
    assert_eq!(all.len(), 6, "org.created and five more");
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    assert_eq!(all[0].action, "login.failed.4");
    assert_eq!(all[0].details, json!({"n": 1}));
    assert_eq!(all[0].source_ip.as_deref(), Some("127.0.0.1"));
    let page1 = store.audit_events(&q(None, None, 2)).await.unwrap();
    let page2 = store
        .audit_events(&q(None, Some(page1[1].seq), 2))
        .await
        .unwrap();
    assert_eq!(page2[0].seq, all[2].seq);
    let mine = store
        .audit_events(&q(Some(c.clone()), None, 50))
        .await
        .unwrap();
    assert_eq!(mine.len(), 3);
    assert!(mine.iter().all(|e| e.client_id.as_ref() == Some(&c)));
}

pub async fn concurrent_regenerates_each_commit_once_with_one_audit_entry(
    store: &dyn Store,
    _pg: bool,
) {
    let acme = acme(store).await;
    let org_id = acme.org.org_id.clone();
    let k = key(
        &org_id,
        KeyKind::Admin,
        Some(org_id.as_str()),
        KeyScope::OrgAdmin,
        "0",
    );
    store
        .insert_key(
            &k,
            &event(Some(&org_id), "admin_key.generated", Some(&k.client_id)),
        )
        .await
        .unwrap();
    // The store is borrowed; run the regenerates concurrently on this task.
    let results = futures_join_all((1..=40).map(|i| {
        let (org_id, client_id) = (org_id.clone(), k.client_id.clone());
        async move {
            let hash = sha256(format!("secret {i}").as_bytes());
            let ev = event(Some(&org_id), "admin_key.regenerated", Some(&client_id));
            store
                .regenerate_key(&org_id, &client_id, &rotation(hash), None, NOW + i, &ev)
                .await
                .map(|r| (r.generation, hash))
        }
    }))
    .await;
    let mut generations: Vec<u64> = results.iter().map(|r| r.as_ref().unwrap().0).collect();
    generations.sort();
    assert_eq!(
        generations,
        (2..=41).collect::<Vec<u64>>(),
        "each regenerate saw its own generation"
    );
    let last = results
        .iter()
        .map(|r| r.as_ref().unwrap())
        .max_by_key(|(g, _)| *g)
        .unwrap();
    assert_eq!(
        store
            .key_by_client_id(&k.client_id)
            .await
            .unwrap()
            .unwrap()
            .secret_hash,
        last.1,
        "the last committed secret is the one kept"
    );
    let events = store
        .audit_events(&AuditQuery {
            org_id,
            client_id: Some(k.client_id.clone()),
            before: None,
            after: None,
            actor: None,
            action: None,
            limit: 200,
        })
        .await
        .unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "admin_key.regenerated")
            .count(),
        40
    );
}
