//! Change notices: what the store announces to other instances, and only where
//! they may write.

use crate::story::{NOW, acme, event, key, real_now_ms, rotation};
use keygate_core::crypto::sha256;
use keygate_core::permission::KeyScope;
use keygate_store::{Change, KeyKind, Store};
use std::time::Duration;

pub async fn changes_are_announced_only_where_other_instances_may_write(
    store: &dyn Store,
    pg: bool,
) {
    let Some(mut feed) = store.subscribe_changes(real_now_ms).await.unwrap() else {
        assert!(!pg, "PostgreSQL must announce changes to other instances");
        return;
    };
    assert!(pg, "SQLite has a single writer and needs no feed");
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let k = key(
        org_id,
        KeyKind::Admin,
        Some(org_id.as_str()),
        KeyScope::OrgAdmin,
        "0",
    );
    store
        .insert_key(&k, &event(Some(org_id), "admin_key.generated", None))
        .await
        .unwrap();
    // A refused change announces nothing.
    let dup = key(
        org_id,
        KeyKind::Admin,
        Some(org_id.as_str()),
        KeyScope::OrgAdmin,
        "1",
    );
    assert!(
        store
            .insert_key(&dup, &event(Some(org_id), "admin_key.generated", None))
            .await
            .is_err()
    );
    store
        .regenerate_key(
            org_id,
            &k.client_id,
            &rotation(sha256(b"2")),
            None,
            NOW,
            &event(Some(org_id), "admin_key.regenerated", None),
        )
        .await
        .unwrap();
    // Heartbeats (`CurrentAsOf`) come every 250 ms between the changes.
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let next = tokio::time::timeout(Duration::from_secs(5), feed.recv()).await;
        match next
            .expect("a change notice within 5 s")
            .expect("feed open")
        {
            Change::CurrentAsOf(_) => {}
            change => seen.push(change),
        }
    }
    let accounts: Vec<Change> = acme
        .accounts
        .iter()
        .map(|a| Change::Account(a.account_id.clone()))
        .collect();
    assert_eq!(
        seen[..2],
        accounts[..],
        "accounts of the new organization, in commit order"
    );
    assert_eq!(
        seen[2..],
        [
            Change::Key(k.client_id.clone()),
            Change::Key(k.client_id.clone())
        ]
    );
    let quiet = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(next) = tokio::time::timeout_at(quiet, feed.recv()).await {
        assert!(
            matches!(next, Some(Change::CurrentAsOf(_))),
            "nothing for the refused insert, only heartbeats: {next:?}"
        );
    }
}
