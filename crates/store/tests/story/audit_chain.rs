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
                actor: None,
                action: None,
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

pub async fn an_audit_stream_is_leased_once_and_moves_on_only_from_where_it_was(
    store: &dyn Store,
    _pg: bool,
) {
    use keygate_core::AuditStreamId;
    use keygate_store::AuditStreamRecord;

    use crate::story::NOW;

    let a = acme(store).await;
    let org_id = a.org.org_id.clone();
    let newest = ascending(store, &org_id).await.len() as i64;
    assert!(newest > 0);
    let s = AuditStreamRecord {
        stream_id: AuditStreamId::generate(),
        org_id: org_id.clone(),
        url: "tcp://127.0.0.1:6514".into(),
        format: "syslog".into(),
        secret_salt: "salt".into(),
        delivered_seq: 0,
        attempts: 0,
        next_attempt_at: NOW,
        last_error: None,
        created_at: NOW,
        head_seq: 0,
    };
    let created = event(Some(&org_id), "audit_stream.created", None);
    store.create_audit_stream(&s, &created).await.unwrap();
    let newest = newest + 1;

    // One claimer gets it; a second one finds it leased.
    let claimed = store
        .claim_audit_streams(NOW, 10, NOW + 30_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].delivered_seq, claimed[0].head_seq), (0, newest));
    assert!(
        store
            .claim_audit_streams(NOW, 10, NOW + 30_000)
            .await
            .unwrap()
            .is_empty()
    );
    // A failure keeps its error and waits; the lease ends.
    store
        .audit_stream_failed(&s.stream_id, "HTTP 500", NOW + 1000, NOW)
        .await
        .unwrap();
    assert!(
        store
            .claim_audit_streams(NOW + 999, 10, NOW + 30_000)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .claim_audit_streams(NOW + 1000, 10, NOW + 31_000)
        .await
        .unwrap();
    assert_eq!(again[0].last_error.as_deref(), Some("HTTP 500"));
    // Moving on only from where it was read.
    assert!(
        !store
            .audit_stream_sent(&s.stream_id, 5, newest, NOW)
            .await
            .unwrap()
    );
    assert!(
        store
            .audit_stream_sent(&s.stream_id, 0, newest, NOW)
            .await
            .unwrap()
    );
    let listed = store.audit_streams(&org_id).await.unwrap();
    assert_eq!(
        (listed[0].delivered_seq, listed[0].last_error.clone()),
        (newest, None)
    );
    // Caught up: nothing to claim until a new event.
    assert!(
        store
            .claim_audit_streams(NOW + 2000, 10, NOW + 32_000)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .record_audit(&[event(Some(&org_id), "test.written", None)])
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_audit_streams(NOW + 2000, 10, NOW + 32_000)
            .await
            .unwrap()
            .len(),
        1
    );

    let gone = event(Some(&org_id), "audit_stream.deleted", None);
    store
        .delete_audit_stream(&org_id, &s.stream_id, &gone)
        .await
        .unwrap();
    assert!(matches!(
        store
            .delete_audit_stream(&org_id, &s.stream_id, &gone)
            .await,
        Err(StoreError::NotFound)
    ));
}
