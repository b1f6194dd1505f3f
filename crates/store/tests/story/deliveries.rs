//! The outbox: key events queue webhook deliveries and mails, leased by one
//! claimer at a time, retried, and listed in the order the webhooks are.

use crate::story::{NOW, acme, event, futures_join_all, key, scoped};
use keygate_core::{OrgId, WebhookId};
use keygate_store::{
    AttemptOutcome, AttemptRecord, DeliveryQuery, DeliveryStatus, DeliveryTarget, KeyKind, Store,
    StoreError, WebhookRecord,
};

pub(crate) fn webhook(org: &OrgId, events: &[&str], enabled: bool) -> WebhookRecord {
    WebhookRecord {
        webhook_id: WebhookId::generate(),
        org_id: org.clone(),
        url: "https://hooks.acme.test/keygate".into(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        enabled,
        secret_salt: "salt".into(),
        created_at: NOW,
        updated_at: NOW,
    }
}

fn attempt(n: u32, at: i64, ok: bool) -> AttemptRecord {
    AttemptRecord {
        attempt: n,
        started_at: at,
        ok,
        status_code: Some(if ok { 200 } else { 500 }),
        latency_ms: 7,
        error: (!ok).then(|| "HTTP 500".to_owned()),
    }
}

pub async fn key_events_queue_deliveries_that_one_claimer_at_a_time_leases(
    store: &dyn Store,
    _pg: bool,
) {
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let hook = webhook(org_id, &["scoped_key.created"], true);
    let off = webhook(org_id, &["scoped_key.created"], false);
    for w in [&hook, &off] {
        store
            .create_webhook(w, &event(Some(org_id), "webhook.created", None))
            .await
            .unwrap();
    }
    assert_eq!(
        store.webhooks(org_id).await.unwrap().len(),
        2,
        "both webhooks listed"
    );
    assert!(
        store.webhooks(&OrgId::generate()).await.unwrap().is_empty(),
        "another org sees none"
    );

    // A key event: one delivery for the enabled, subscribed webhook and one
    // mail for the owner, in the key's transaction. Other events queue nothing.
    let k = key(
        org_id,
        KeyKind::Scoped,
        None,
        scoped(&acme.accounts, "balances"),
        "s",
    );
    let created = event(Some(org_id), "scoped_key.created", Some(&k.client_id));
    store.insert_key(&k, &created).await.unwrap();
    store
        .record_audit(&[event(Some(org_id), "session.created", None)])
        .await
        .unwrap();
    let q = DeliveryQuery {
        org_id: org_id.clone(),
        webhook_id: None,
        before: None,
        limit: 50,
    };
    let queued = store.deliveries(&q).await.unwrap();
    let mut targets: Vec<_> = queued.iter().map(|d| d.target.clone()).collect();
    targets.sort_by_key(|t| format!("{t:?}"));
    assert_eq!(
        targets,
        vec![
            DeliveryTarget::Email("owner@acme.test".into()),
            DeliveryTarget::Webhook(hook.webhook_id.clone()),
        ]
    );
    assert!(queued.iter().all(|d| d.status == DeliveryStatus::Pending
        && d.event_id == created.event_id
        && d.event_name == "scoped_key.created"));

    // The outbox as the metrics see it: pending rows per channel, the oldest's time.
    let stats = store.outbox_stats().await.unwrap();
    for channel in ["email", "webhook"] {
        let s = stats.iter().find(|s| s.channel == channel).unwrap();
        assert!(s.pending >= 1, "{s:?}");
        assert!(s.oldest_created_at.is_some(), "{s:?}");
    }
    let pools = store.pool_stats();
    assert!(!pools.is_empty() && pools.iter().all(|p| p.max >= 1 && p.idle <= p.open));

    // Claimed once until the lease runs out.
    let lease = NOW + 30_000;
    let claimed = store.claim_due(NOW, 10, lease).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let payload: serde_json::Value = serde_json::from_str(&claimed[0].payload).unwrap();
    assert_eq!(payload["id"], created.event_id.as_str());
    assert!(
        store
            .claim_due(NOW + 1, 10, lease)
            .await
            .unwrap()
            .is_empty()
    );
    let web = claimed
        .iter()
        .find(|d| matches!(d.delivery.target, DeliveryTarget::Webhook(_)))
        .unwrap();
    assert_eq!(web.webhook.as_ref().map(|w| &w.url), Some(&hook.url));
    assert!(matches!(
        store
            .redeliver(
                org_id,
                &web.delivery.delivery_id,
                NOW + 2,
                &event(Some(org_id), "delivery.redelivered", None)
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .claim_due(lease, 10, lease + 30_000)
            .await
            .unwrap()
            .len(),
        2
    );

    // One delivered, one to retry later.
    let mail = claimed.iter().find(|d| d.webhook.is_none()).unwrap();
    let (t1, retry_at) = (lease + 10, lease + 100_000);
    store
        .record_attempt(
            &web.delivery.delivery_id,
            &attempt(1, t1, true),
            AttemptOutcome::Delivered,
        )
        .await
        .unwrap();
    store
        .record_attempt(
            &mail.delivery.delivery_id,
            &attempt(1, t1, false),
            AttemptOutcome::RetryAt(retry_at),
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_due(retry_at - 1, 10, retry_at + 30_000)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store
        .claim_due(retry_at, 10, retry_at + 30_000)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].delivery.delivery_id, mail.delivery.delivery_id);
    assert_eq!(due[0].delivery.attempts, 1);
    let listed = store
        .deliveries(&DeliveryQuery {
            webhook_id: Some(hook.webhook_id.clone()),
            ..q.clone()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, DeliveryStatus::Delivered);
    assert_eq!(listed[0].attempt_log, vec![attempt(1, t1, true)]);

    // Redelivered: pending and due again; another org's delivery is not found.
    store
        .redeliver(
            org_id,
            &web.delivery.delivery_id,
            t1 + 50,
            &event(Some(org_id), "delivery.redelivered", None),
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .redeliver(
                &OrgId::generate(),
                &web.delivery.delivery_id,
                t1,
                &event(None, "x", None)
            )
            .await,
        Err(StoreError::NotFound)
    ));
    // A disabled webhook's deliveries wait; a deleted one's are gone.
    store
        .update_webhook(
            &WebhookRecord {
                enabled: false,
                ..hook.clone()
            },
            &event(Some(org_id), "webhook.updated", None),
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_due(t1 + 60, 10, t1 + 30_000)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .delete_webhook(
            org_id,
            &hook.webhook_id,
            &event(Some(org_id), "webhook.deleted", None),
        )
        .await
        .unwrap();
    assert_eq!(
        store.deliveries(&q).await.unwrap().len(),
        1,
        "only the mail is left"
    );
}

pub async fn concurrent_claimers_never_take_the_same_delivery(store: &dyn Store, _pg: bool) {
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let hook = webhook(org_id, &["scoped_key.created"], true);
    store
        .create_webhook(&hook, &event(Some(org_id), "webhook.created", None))
        .await
        .unwrap();
    for _ in 0..30 {
        let k = key(
            org_id,
            KeyKind::Scoped,
            None,
            scoped(&acme.accounts, "balances"),
            "s",
        );
        store
            .insert_key(
                &k,
                &event(Some(org_id), "scoped_key.created", Some(&k.client_id)),
            )
            .await
            .unwrap();
    }
    // 60 deliveries (30 webhook posts, 30 mails), eight claimers of 10 at once.
    let claims = futures_join_all((0..8).map(|_| store.claim_due(NOW, 10, NOW + 30_000))).await;
    let mut ids: Vec<String> = claims
        .into_iter()
        .flat_map(|c| c.unwrap())
        .map(|d| d.delivery.delivery_id.to_string())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "no delivery claimed twice");
    assert_eq!(n, 60, "every due delivery claimed once");
}

pub async fn a_key_event_queues_webhook_deliveries_in_the_order_the_webhooks_are_listed(
    store: &dyn Store,
    _pg: bool,
) {
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    // Each webhook is created later but dated earlier than the one before, so
    // the listed order (oldest first) is the reverse of the insertion order.
    for i in 0..4 {
        let mut w = webhook(org_id, &["scoped_key.created"], true);
        w.created_at = NOW - i;
        w.updated_at = w.created_at;
        store
            .create_webhook(&w, &event(Some(org_id), "webhook.created", None))
            .await
            .unwrap();
    }
    let listed: Vec<_> = store
        .webhooks(org_id)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.webhook_id)
        .collect();
    assert_eq!(listed.len(), 4);

    let k = key(
        org_id,
        KeyKind::Scoped,
        None,
        scoped(&acme.accounts, "balances"),
        "s",
    );
    let created = event(Some(org_id), "scoped_key.created", Some(&k.client_id));
    store.insert_key(&k, &created).await.unwrap();
    let q = DeliveryQuery {
        org_id: org_id.clone(),
        webhook_id: None,
        before: None,
        limit: 50,
    };
    // Newest first: reversed, the deliveries are in the order they were queued.
    let queued: Vec<_> = store
        .deliveries(&q)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .filter_map(|d| match d.target {
            DeliveryTarget::Webhook(w) => Some(w),
            DeliveryTarget::Email(_) => None,
        })
        .collect();
    assert_eq!(queued, listed, "one delivery per webhook, in listed order");
}
