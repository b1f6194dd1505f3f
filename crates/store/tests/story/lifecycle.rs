//! Key lifecycle: a regenerate with a grace period keeps the replaced secret
//! until its time, and each lifecycle notice is claimed once, by one caller.

use keygate_core::crypto::sha256;
use keygate_core::permission::KeyScope;
use keygate_store::{
    AuditQuery, EXPIRY_WARNINGS_MS, KeyKind, KeyNotice, PreviousSecret, Rotation, Store,
};

use crate::story::{NOW, acme, event, key};

const DAY: i64 = 86_400_000;

pub async fn a_grace_period_keeps_the_previous_secret_and_each_notice_is_claimed_once(
    store: &dyn Store,
    _pg: bool,
) {
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let mut k = key(
        org_id,
        KeyKind::Admin,
        Some(org_id.as_str()),
        KeyScope::OrgAdmin,
        "first",
    );
    k.expires_at = Some(NOW + 3 * DAY);
    store
        .insert_key(&k, &event(Some(org_id), "admin_key.generated", None))
        .await
        .unwrap();
    let id = &k.client_id;

    // Regenerate with a grace period: the replaced secret is kept until then.
    let regenerate = |secret: &'static str, grace: Option<i64>, expires_at: Option<i64>| {
        let rotation = Rotation {
            secret_hash: sha256(secret.as_bytes()),
            previous_secret_expires_at: grace,
            expires_at,
            rate_limit: None,
        };
        async move {
            store
                .regenerate_key(
                    org_id,
                    id,
                    &rotation,
                    None,
                    NOW,
                    &event(Some(org_id), "admin_key.regenerated", Some(id)),
                )
                .await
                .unwrap()
        }
    };
    let r = regenerate("second", Some(NOW + 1000), k.expires_at).await;
    assert_eq!(r.generation, 2);
    assert_eq!(
        r.previous_secret,
        Some(PreviousSecret {
            secret_hash: sha256(b"first"),
            expires_at: NOW + 1000
        })
    );
    let mut cached = Vec::new();
    store
        .each_key_credential(&mut |c| cached.push(c))
        .await
        .unwrap();
    assert_eq!(cached.len(), 1);
    assert_eq!(
        (cached[0].expires_at, cached[0].previous_secret),
        (k.expires_at, r.previous_secret),
        "the cache's bulk load carries expiry and previous secret"
    );

    // At NOW only the 7-day warning is due; once the grace ends, that too.
    let due = store.due_key_notices(NOW, 100).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].1, 0);
    let due = store.due_key_notices(NOW + 1000, 100).await.unwrap();
    assert_eq!(due[0].0.previous_secret, r.previous_secret);

    let warn = KeyNotice::Expiry {
        from: 0,
        to: 1,
        expires_at: NOW + 3 * DAY,
    };
    let ended = KeyNotice::PreviousSecretExpired { at: NOW + 1000 };
    let claim = |notice: KeyNotice, action: &'static str| async move {
        store
            .claim_key_notice(id, &notice, &event(Some(org_id), action, Some(id)))
            .await
            .unwrap()
    };
    assert!(claim(warn, "admin_key.expiring").await);
    assert!(!claim(warn, "admin_key.expiring").await, "claimed once");
    assert!(claim(ended, "admin_key.previous_secret_expired").await);
    assert!(!claim(ended, "admin_key.previous_secret_expired").await);
    let after = store.key(org_id, id).await.unwrap().unwrap();
    assert_eq!(after.previous_secret, None, "the claim cleared the secret");
    assert!(
        store
            .due_key_notices(NOW + 1000, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let log = store
        .audit_events(&AuditQuery {
            org_id: org_id.clone(),
            client_id: Some(id.clone()),
            before: None,
            after: None,
            actor: None,
            action: None,
            limit: 50,
        })
        .await
        .unwrap();
    let count = |a: &str| log.iter().filter(|e| e.action == a).count();
    assert_eq!(count("admin_key.expiring"), 1);
    assert_eq!(count("admin_key.previous_secret_expired"), 1);

    // Within a day: the 1-day warning; a stale claim (wrong stage) loses.
    let near = NOW + 3 * DAY - EXPIRY_WARNINGS_MS[1];
    let due = store.due_key_notices(near, 100).await.unwrap();
    assert_eq!(due[0].1, 1);
    let stale = KeyNotice::Expiry {
        from: 0,
        to: 2,
        expires_at: NOW + 3 * DAY,
    };
    assert!(!claim(stale, "admin_key.expiring").await);

    // A second regenerate during a grace ends it: only the secret it
    // replaced is kept. A new expiry starts the notices over.
    regenerate("third", Some(NOW + 5000), k.expires_at).await;
    let r = regenerate("fourth", Some(NOW + 9000), Some(NOW + 30 * DAY)).await;
    assert_eq!(
        r.previous_secret,
        Some(PreviousSecret {
            secret_hash: sha256(b"third"),
            expires_at: NOW + 9000
        })
    );
    assert!(
        store
            .due_key_notices(NOW + 23 * DAY, 100)
            .await
            .unwrap()
            .iter()
            .any(|(k, stage)| &k.client_id == id && *stage == 0)
    );
    // Without a grace period nothing is kept.
    let r = regenerate("fifth", None, None).await;
    assert_eq!((r.previous_secret, r.expires_at), (None, None));
    assert!(
        store
            .due_key_notices(NOW + 100 * DAY, 100)
            .await
            .unwrap()
            .is_empty()
    );
}
