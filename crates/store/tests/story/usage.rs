//! Usage: flushed batches add up (several instances), a later last use wins,
//! reads sum per bucket and per key, retention prunes, and the `*.unused`
//! notice is claimed once per idle stretch.

use keygate_core::permission::KeyScope;
use keygate_store::{
    AuditQuery, KeyKind, LastUsed, Store, UsageBatch, UsageCounts, UsageDelta, UsageQuery,
    UsageTable,
};

use crate::story::{NOW, acme, event, key};

const MIN: i64 = 60_000;
const DAY: i64 = 24 * 60 * MIN;

pub async fn usage_adds_up_and_an_idle_key_is_claimed_once(store: &dyn Store, _pg: bool) {
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let k = key(org_id, KeyKind::Scoped, None, KeyScope::OrgAdmin, "k");
    store
        .insert_key(&k, &event(Some(org_id), "scoped_key.created", None))
        .await
        .unwrap();
    let minute = NOW.div_euclid(MIN) * MIN;
    let delta = |allowed, scope, at| UsageDelta {
        client_id: k.client_id.clone(),
        org_id: org_id.clone(),
        minute_start: at,
        counts: UsageCounts {
            allowed,
            scope,
            ..UsageCounts::default()
        },
    };
    let used = |at: i64, ip: &str| LastUsed {
        client_id: k.client_id.clone(),
        org_id: org_id.clone(),
        at,
        ip: ip.into(),
    };
    // Two instances flush the same minute; one flushes an older last use late.
    store
        .record_usage(&UsageBatch {
            counts: vec![delta(3, 1, minute), delta(1, 0, minute + MIN)],
            last_used: vec![used(NOW + 5, "203.0.113.1")],
        })
        .await
        .unwrap();
    store
        .record_usage(&UsageBatch {
            counts: vec![delta(2, 0, minute)],
            last_used: vec![used(NOW, "203.0.113.2")],
        })
        .await
        .unwrap();
    let q = |table, client| UsageQuery {
        org_id: org_id.clone(),
        client_id: client,
        table,
        from: minute - DAY,
        to: minute + DAY,
    };
    let minutes = store
        .usage(&q(UsageTable::Minutes, Some(k.client_id.clone())))
        .await
        .unwrap();
    assert_eq!(minutes.len(), 2);
    assert_eq!((minutes[0].1.allowed, minutes[0].1.scope), (5, 1));
    let days = store.usage(&q(UsageTable::Days, None)).await.unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].0, NOW.div_euclid(DAY) * DAY);
    assert_eq!(days[0].1.allowed, 6);
    let by_key = store
        .usage_by_key(org_id, UsageTable::Days, minute - DAY, minute + DAY)
        .await
        .unwrap();
    assert_eq!(by_key, vec![(k.client_id.clone(), days[0].1)]);
    let last = store.last_used(org_id).await.unwrap();
    assert_eq!(last, vec![used(NOW + 5, "203.0.113.1")]);

    // Idle since NOW + 5: not before NOW, but before NOW + 10 days.
    assert!(store.unused_keys(NOW, NOW, 10).await.unwrap().is_empty());
    let cutoff = NOW + 10 * DAY;
    let idle = store.unused_keys(cutoff, cutoff, 10).await.unwrap();
    assert_eq!(idle.len(), 1);
    assert_eq!(idle[0].idle_since(), NOW + 5);
    let mut notice = event(Some(org_id), "scoped_key.unused", Some(&k.client_id));
    notice.occurred_at = cutoff;
    assert!(store.claim_unused(&idle[0], cutoff, &notice).await.unwrap());
    let mut again = event(Some(org_id), "scoped_key.unused", Some(&k.client_id));
    again.occurred_at = cutoff;
    assert!(!store.claim_unused(&idle[0], cutoff, &again).await.unwrap());
    assert!(
        store
            .unused_keys(cutoff, cutoff, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let events = store
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
        events
            .iter()
            .filter(|e| e.action == "scoped_key.unused")
            .count(),
        1
    );
    // Used again, then idle again: a new stretch, told about once more.
    store
        .record_usage(&UsageBatch {
            counts: vec![],
            last_used: vec![used(cutoff + 1, "203.0.113.3")],
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .unused_keys(cutoff + 20 * DAY, cutoff + 20 * DAY, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // An idle key that expired is not "unused": it is neither listed nor claimed.
    let mut gone = key(org_id, KeyKind::Scoped, None, KeyScope::OrgAdmin, "expired");
    gone.expires_at = Some(NOW + DAY);
    store
        .insert_key(&gone, &event(Some(org_id), "scoped_key.created", None))
        .await
        .unwrap();
    let later = cutoff + 20 * DAY;
    let idle = store.unused_keys(later, later, 10).await.unwrap();
    assert_eq!(idle.len(), 1, "only the live key");
    assert_eq!(idle[0].client_id, k.client_id);
    let before_expiry = store.unused_keys(NOW, later, 10).await.unwrap();
    assert_eq!(before_expiry.len(), 2, "both, before the expiry");
    let stale = before_expiry
        .iter()
        .find(|u| u.client_id == gone.client_id)
        .unwrap();
    let mut notice = event(Some(org_id), "scoped_key.unused", Some(&gone.client_id));
    notice.occurred_at = later;
    assert!(
        !store.claim_unused(stale, later, &notice).await.unwrap(),
        "an expired key's notice is not claimed"
    );

    // Retention: minutes before the cut go, days stay.
    store.prune_usage(minute + MIN, minute - DAY).await.unwrap();
    let minutes = store.usage(&q(UsageTable::Minutes, None)).await.unwrap();
    assert_eq!(minutes.len(), 1);
    assert_eq!(
        store.usage(&q(UsageTable::Days, None)).await.unwrap().len(),
        1
    );
}
