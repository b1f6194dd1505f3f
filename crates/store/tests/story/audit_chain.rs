//! The store story of the audit hash chain: many writers of one organization
//! at once get seq 1..N with no gap and no fork, each event linked to the one
//! before; a rolled-back change gives its seq back; each organization has its
//! own chain; `verify_audit_chain` recomputes it, on both backends.

use keygate_core::OrgId;
use keygate_core::audit_chain::{GENESIS, event_hash};
use keygate_core::permission::KeyScope;
use keygate_store::{AuditEvent, AuditQuery, KeyKind, Store, StoreError};
use serde_json::json;

use crate::story::{acme, event, futures_join_all, key};

async fn ascending(store: &dyn Store, org_id: &OrgId) -> Vec<AuditEvent> {
    let mut all: Vec<AuditEvent> = Vec::new();
    loop {
        let page = store
            .audit_events(&AuditQuery {
                org_id: org_id.clone(),
                client_id: None,
                before: None,
                after: Some(all.last().map_or(0, |e| e.seq)),
                limit: 7,
            })
            .await
            .unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

fn assert_linked(events: &[AuditEvent]) {
    let mut prev = GENESIS.to_owned();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1);
        assert_eq!(e.prev_hash, prev, "seq {}", e.seq);
        assert_eq!(e.hash, event_hash(&e.document()), "seq {}", e.seq);
        prev = e.hash.clone();
    }
}

pub async fn the_audit_chain_has_no_gap_or_fork_under_concurrent_writers(
    store: &dyn Store,
    _pg: bool,
) {
    let a = acme(store).await;
    // The chain needs no organization row: a second org id is enough.
    let (org_a, org_b) = (a.org.org_id.clone(), OrgId::generate());
    let before_a = ascending(store, &org_a).await.len();

    // 60 writers at once, two thirds in one organization, a few events of
    // no organization among them.
    let results = futures_join_all((0..60).map(|i| {
        let org = match i % 3 {
            0 => Some(org_b.clone()),
            _ => Some(org_a.clone()),
        };
        async move {
            let mut e = event(org.as_ref(), "test.written", None);
            e.details = json!({"i": i, "text": "Grüße \"q\" € 😀 \u{2028}"});
            let mut none = event(None, "test.no_org", None);
            none.details = json!({"i": i});
            let events = if i % 10 == 0 { vec![e, none] } else { vec![e] };
            store.record_audit(&events).await
        }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    // A change that fails is rolled back with its event: its seq is reused.
    let k = key(&org_a, KeyKind::Scoped, None, KeyScope::OrgAdmin, "1");
    let created = event(Some(&org_a), "scoped_key.created", Some(&k.client_id));
    store.insert_key(&k, &created).await.unwrap();
    let mut twin = k.clone();
    twin.secret_hash = keygate_core::crypto::sha256(b"twin");
    assert!(matches!(
        store.insert_key(&twin, &created).await,
        Err(StoreError::Conflict(_) | StoreError::Internal(_))
    ));

    let chain_a = ascending(store, &org_a).await;
    assert_linked(&chain_a);
    assert_eq!(chain_a.len(), before_a + 40 + 1);
    assert!(chain_a.iter().all(|e| e.org_id.as_ref() == Some(&org_a)));
    let chain_b = ascending(store, &org_b).await;
    assert_linked(&chain_b);
    assert_eq!(
        chain_b
            .iter()
            .filter(|e| e.action == "test.written")
            .count(),
        20
    );

    let checks = store.verify_audit_chain(None).await.unwrap();
    for (org, chain) in [(&org_a, &chain_a), (&org_b, &chain_b)] {
        let c = checks.iter().find(|c| &c.org_id == org).unwrap();
        assert_eq!(c.broken, None);
        assert_eq!(c.events, chain.len() as i64);
    }
    let only_b = store.verify_audit_chain(Some(&org_b)).await.unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].events, chain_b.len() as i64);
}
