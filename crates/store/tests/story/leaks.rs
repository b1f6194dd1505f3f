//! Leaked keys: found by the digest of their secret, flagged or revoked once,
//! and told to the owners and admins.

use crate::deliveries::webhook;
use crate::story::{NOW, acme, event, key, rotation, scoped};
use keygate_core::crypto::sha256;
use keygate_core::permission::KeyScope;
use keygate_core::{OnLeak, OrgId, Role};
use keygate_store::{AuditQuery, DeliveryQuery, KeyKind, Store, StoreError};
use serde_json::json;

/// A leaked key is found by the digest of its secret; flagging and revoking
/// happen once (a repeated report writes nothing), only while the key still
/// has the leaked secret, and tell the owners and admins, not developers.
pub async fn a_leaked_key_is_found_by_digest_and_flagged_or_revoked_once(
    store: &dyn Store,
    _pg: bool,
) {
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    crate::people::join(store, org_id, "admin@acme.test", Role::Admin).await;
    crate::people::join(store, org_id, "dev@acme.test", Role::Developer).await;
    let hook = webhook(org_id, &["api_key.exposed"], true);
    store
        .create_webhook(&hook, &event(Some(org_id), "webhook.created", None))
        .await
        .unwrap();
    assert_eq!(store.on_leak(org_id).await.unwrap(), OnLeak::Revoke);
    store
        .set_on_leak(
            org_id,
            OnLeak::Notify,
            &event(Some(org_id), "org.updated", None),
        )
        .await
        .unwrap();
    assert_eq!(store.on_leak(org_id).await.unwrap(), OnLeak::Notify);
    assert!(matches!(
        store.on_leak(&OrgId::generate()).await,
        Err(StoreError::NotFound)
    ));

    let k = key(
        org_id,
        KeyKind::Scoped,
        None,
        scoped(&acme.accounts, "balances"),
        "leaked",
    );
    store
        .insert_key(
            &k,
            &event(Some(org_id), "scoped_key.created", Some(&k.client_id)),
        )
        .await
        .unwrap();
    let found = store.key_by_secret_hash(&sha256(b"leaked")).await.unwrap();
    assert_eq!(found.map(|f| f.client_id), Some(k.client_id.clone()));
    assert!(
        store
            .key_by_secret_hash(&sha256(b"other"))
            .await
            .unwrap()
            .is_none()
    );

    // Flagged once; the second report writes nothing (no event, no delivery).
    let exposed = |n: i64| {
        let mut e = event(Some(org_id), "api_key.exposed", Some(&k.client_id));
        e.details = json!({"name": "a key", "kind": "scoped",
            "exposure": {"reported_by": "github", "location": format!("https://x.test/{n}"),
                         "source": "content", "action": "flagged"}});
        e
    };
    let first = exposed(1);
    assert!(
        store
            .flag_exposed_key(org_id, &k.client_id, &k.secret_hash, NOW + 1, &first)
            .await
            .unwrap()
    );
    assert!(
        !store
            .flag_exposed_key(org_id, &k.client_id, &k.secret_hash, NOW + 2, &exposed(2))
            .await
            .unwrap()
    );
    let flagged = store.key(org_id, &k.client_id).await.unwrap().unwrap();
    assert_eq!(flagged.exposed_at, Some(NOW + 1));
    let q = DeliveryQuery {
        org_id: org_id.clone(),
        webhook_id: None,
        before: None,
        limit: 50,
    };
    let mut targets: Vec<_> = store
        .deliveries(&q)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.event_name == "api_key.exposed")
        .map(|d| {
            assert_eq!(d.event_id, first.event_id);
            format!("{:?}", d.target)
        })
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        vec![
            "Email(\"admin@acme.test\")".to_owned(),
            "Email(\"owner@acme.test\")".to_owned(),
            format!("Webhook({:?})", hook.webhook_id),
        ],
        "owners, admins and the webhook; not the developer"
    );
    let audit = store
        .audit_events(&AuditQuery {
            org_id: org_id.clone(),
            client_id: Some(k.client_id.clone()),
            before: None,
            after: None,
            actor: None,
            action: None,
            limit: 50,
        })
        .await
        .unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "api_key.exposed")
            .count(),
        1
    );

    // A regenerate clears the mark; the old secret is then no key's.
    store
        .regenerate_key(
            org_id,
            &k.client_id,
            &rotation(sha256(b"fresh")),
            None,
            NOW + 3,
            &event(Some(org_id), "scoped_key.regenerated", Some(&k.client_id)),
        )
        .await
        .unwrap();
    let fresh = store.key(org_id, &k.client_id).await.unwrap().unwrap();
    assert_eq!(fresh.exposed_at, None);
    assert!(
        store
            .key_by_secret_hash(&sha256(b"leaked"))
            .await
            .unwrap()
            .is_none()
    );

    // Revoking takes the leaked secret: the stale one deletes nothing, the
    // current one deletes the key (admin keys too), once.
    let stale = exposed(3);
    assert!(
        !store
            .revoke_exposed_key(org_id, &k.client_id, &sha256(b"leaked"), &stale)
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_exposed_key(org_id, &k.client_id, &sha256(b"fresh"), &exposed(4))
            .await
            .unwrap()
    );
    assert!(store.key(org_id, &k.client_id).await.unwrap().is_none());
    assert!(
        !store
            .revoke_exposed_key(org_id, &k.client_id, &sha256(b"fresh"), &exposed(5))
            .await
            .unwrap()
    );
    let admin = key(
        org_id,
        KeyKind::Admin,
        Some(org_id.as_str()),
        KeyScope::OrgAdmin,
        "adm",
    );
    store
        .insert_key(
            &admin,
            &event(Some(org_id), "admin_key.generated", Some(&admin.client_id)),
        )
        .await
        .unwrap();
    assert!(
        store
            .revoke_exposed_key(org_id, &admin.client_id, &sha256(b"adm"), &exposed(6))
            .await
            .unwrap()
    );
    assert!(store.key(org_id, &admin.client_id).await.unwrap().is_none());
    let all = store
        .audit_events(&AuditQuery {
            org_id: org_id.clone(),
            client_id: None,
            before: None,
            after: None,
            actor: None,
            action: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert!(
        all.iter().all(|e| e.event_id != stale.event_id),
        "nothing written for a stale report"
    );
}
