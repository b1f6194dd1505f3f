//! The store story of keys' credits and the operator's webhooks, on both
//! backends: credits kept on create, edit and in the credential read; uses
//! settled never below 0, a refill applied before a use of a newer period,
//! a use of an older setting ignored; the exhaustion claimed once per mark;
//! an operator webhook's delivery queued under no organization.

use keygate_core::WebhookId;
use keygate_core::credits::{Credits, Refill};
use keygate_core::quota::Period;
use keygate_store::{CreditsUse, KeyEdit, KeyKind, OperatorWebhookRecord, Store};

use crate::story::{NOW, acme, event, key, scoped};

const DAY: i64 = 86_400_000;

pub async fn credits_are_settled_and_their_exhaustion_claimed_once(store: &dyn Store, _pg: bool) {
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let start = NOW.div_euclid(DAY) * DAY;
    let credits = Credits {
        remaining: 3,
        refill: Some(Refill {
            amount: 5,
            period: Period::Day,
        }),
        period_start: start,
        set_at: NOW,
    };
    let mut k = key(
        org_id,
        KeyKind::Scoped,
        None,
        scoped(&acme.accounts, "balances"),
        "m",
    );
    k.credits = Some(credits);
    store
        .insert_key(&k, &event(Some(org_id), "scoped_key.created", None))
        .await
        .unwrap();
    assert_eq!(
        store
            .key(org_id, &k.client_id)
            .await
            .unwrap()
            .unwrap()
            .credits,
        Some(credits)
    );
    let mut creds = Vec::new();
    store
        .each_key_credential(&mut |c| creds.push(c))
        .await
        .unwrap();
    assert_eq!(creds[0].credits.as_deref(), Some(&credits));

    let used = |n: i64, set_at: i64, period_start: i64| CreditsUse {
        client_id: k.client_id.clone(),
        set_at,
        period_start,
        used: n,
    };
    // Never below 0.
    let s = store.settle_credits(&[used(5, NOW, start)]).await.unwrap();
    assert_eq!(s[0].remaining, 0);
    // A use of an older setting changes nothing.
    assert!(
        store
            .settle_credits(&[used(1, NOW - 1, start)])
            .await
            .unwrap()
            .is_empty()
    );
    // The next day: refilled to 5 before the use.
    let s = store
        .settle_credits(&[used(2, NOW, start + DAY)])
        .await
        .unwrap();
    assert_eq!((s[0].remaining, s[0].period_start), (3, start + DAY));
    // A late use of the day before is dropped.
    assert!(
        store
            .settle_credits(&[used(1, NOW, start)])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.key_credits().await.unwrap()[0].remaining, 3);

    // The exhaustion is claimed once per mark.
    let ev = || {
        event(
            Some(org_id),
            "api_key.credits_exhausted",
            Some(&k.client_id),
        )
    };
    assert!(
        store
            .claim_credits_exhausted(&k.client_id, start, &ev())
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_credits_exhausted(&k.client_id, start, &ev())
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_credits_exhausted(&k.client_id, start + DAY, &ev())
            .await
            .unwrap()
    );

    // An edit that leaves the credits keeps them; null removes them.
    let edit = |credits| KeyEdit {
        name: "m",
        scope: &k.scope,
        rate_limit: None,
        expires_at: None,
        allowed_networks: &k.allowed_networks,
        require_dpop: false,
        credits,
        federation: &k.federation,
    };
    let ev = || event(Some(org_id), "scoped_key.updated", None);
    let kept = store
        .update_key(org_id, &k.client_id, &edit(None), NOW + 1, &ev())
        .await
        .unwrap();
    assert_eq!(kept.credits.map(|c| c.remaining), Some(3));
    let gone = store
        .update_key(org_id, &k.client_id, &edit(Some(None)), NOW + 2, &ev())
        .await
        .unwrap();
    assert_eq!(gone.credits, None);
    assert!(store.key_credits().await.unwrap().is_empty());

    // An operator webhook gets a delivery of org.suspended, under no org.
    let hook = OperatorWebhookRecord {
        webhook_id: WebhookId::generate(),
        url: "https://billing.example/hook".into(),
        events: vec!["org.suspended".into()],
        secret_salt: "salt".into(),
        created_by: "back-office".into(),
        created_at: NOW,
    };
    store.create_operator_webhook(&hook).await.unwrap();
    assert_eq!(store.operator_webhooks().await.unwrap(), vec![hook.clone()]);
    store
        .record_audit(&[event(Some(org_id), "org.suspended", None)])
        .await
        .unwrap();
    let due = store.claim_due(NOW + 1, 10, NOW + 60_000).await.unwrap();
    let mine: Vec<_> = due
        .iter()
        .filter(|d| {
            d.webhook
                .as_ref()
                .is_some_and(|w| w.webhook_id == hook.webhook_id)
        })
        .collect();
    assert_eq!(mine.len(), 1, "{due:?}");
    assert_eq!(
        mine[0].delivery.org_id.as_str(),
        keygate_store::outbox::NO_ORG
    );
    store
        .delete_operator_webhook(&hook.webhook_id)
        .await
        .unwrap();
    assert!(store.operator_webhooks().await.unwrap().is_empty());
}
