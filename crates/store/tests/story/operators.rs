//! The store story of the operator's back office: operator tokens by digest,
//! organizations made with their owner's invitation, found by filter and
//! cursor, changed, suspended and resumed, on both backends.

use keygate_core::crypto::sha256;
use keygate_core::{AccountId, InvitationId, OrgId, Role};
use keygate_store::{
    AccountRecord, InvitationRecord, MailLink, OperatorTokenRecord, OrgProfile, OrgQuery, Store,
    StoreError, Suspension, UserMail,
};

use crate::story::{NOW, event};

fn profile(name: &str, external_id: Option<&str>) -> OrgProfile {
    OrgProfile {
        org_id: OrgId::generate(),
        name: name.into(),
        external_id: external_id.map(str::to_owned),
        plan_id: Some("basic".into()),
        metadata: [("crm".to_owned(), "hubspot".to_owned())].into(),
        suspended: None,
        created_at: NOW,
    }
}

async fn provision(store: &dyn Store, org: &OrgProfile, owner: &str) -> Result<(), StoreError> {
    let account = AccountRecord {
        account_id: AccountId::generate(),
        org_id: org.org_id.clone(),
        name: "HK".into(),
        created_at: NOW,
    };
    let inv = InvitationRecord {
        invitation_id: InvitationId::generate(),
        org_id: org.org_id.clone(),
        org_name: String::new(),
        email: owner.into(),
        role: Role::Owner,
        token_hash: sha256(owner.as_bytes()),
        invited_by: None,
        invited_by_email: None,
        inviter_role: None,
        expires_at: NOW + 1000,
        created_at: NOW,
    };
    let mail = UserMail {
        to: owner.into(),
        subject: "You are invited".into(),
        text: "Open {link}".into(),
        link: Some(MailLink {
            path: "/app/invitations/".into(),
            nonce: "00".repeat(32),
        }),
    };
    store
        .create_operator_org(
            org,
            &[account],
            &inv,
            &[event(Some(&org.org_id), "org.created", None)],
            &mail,
        )
        .await
}

pub async fn operator_tokens_and_provisioned_orgs_are_kept(store: &dyn Store, _pg: bool) {
    // Tokens: by digest, unique names, revoked by name.
    let t = OperatorTokenRecord {
        name: "back-office".into(),
        token_hash: sha256(b"kgop_one"),
        created_at: NOW,
    };
    store.create_operator_token(&t).await.unwrap();
    let again = store.create_operator_token(&t).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(
        store.operator_token_by_hash(&t.token_hash).await.unwrap(),
        Some(t.clone())
    );
    assert_eq!(store.operator_tokens().await.unwrap(), vec![t.clone()]);
    store.revoke_operator_token("back-office").await.unwrap();
    assert_eq!(
        store.operator_token_by_hash(&t.token_hash).await.unwrap(),
        None
    );
    assert!(matches!(
        store.revoke_operator_token("back-office").await,
        Err(StoreError::NotFound)
    ));

    // Organizations with an invited owner; external ids are unique.
    let a = profile("Acme", Some("crm-1"));
    let b = profile("Beta", None);
    provision(store, &a, "owner@acme.test").await.unwrap();
    provision(store, &b, "owner@beta.test").await.unwrap();
    let dup = provision(store, &profile("Dup", Some("crm-1")), "x@dup.test").await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert_eq!(store.org_profile(&a.org_id).await.unwrap(), Some(a.clone()));
    let pending = store.invitations(&a.org_id, NOW).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].role, Role::Owner);

    let list = |q: OrgQuery| async move { store.org_profiles(&q).await.unwrap() };
    let all = list(OrgQuery {
        limit: 10,
        ..OrgQuery::default()
    })
    .await;
    assert_eq!(all.len(), 2);
    let first = list(OrgQuery {
        limit: 1,
        ..OrgQuery::default()
    })
    .await;
    let rest = list(OrgQuery {
        limit: 10,
        after: Some(first[0].org_id.clone()),
        ..OrgQuery::default()
    })
    .await;
    assert_eq!(first.len() + rest.len(), 2);
    assert_ne!(first[0].org_id, rest[0].org_id);
    let by_ext = list(OrgQuery {
        external_id: Some("crm-1".into()),
        limit: 10,
        ..OrgQuery::default()
    })
    .await;
    assert_eq!(by_ext, vec![a.clone()]);

    // Changes and suspension.
    let mut changed = b.clone();
    changed.external_id = Some("crm-1".into());
    let taken = store.update_org_profile(&changed, &[]).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    let mut suspended = a.clone();
    suspended.suspended = Some(Suspension {
        reason: "unpaid".into(),
        since: NOW,
    });
    store
        .update_org_profile(&suspended, &[event(Some(&a.org_id), "org.suspended", None)])
        .await
        .unwrap();
    assert_eq!(
        store.suspended_orgs().await.unwrap(),
        vec![a.org_id.clone()]
    );
    let only = list(OrgQuery {
        suspended: Some(true),
        limit: 10,
        ..OrgQuery::default()
    })
    .await;
    assert_eq!(only, vec![suspended.clone()]);
    store
        .update_org_profile(&a, &[event(Some(&a.org_id), "org.resumed", None)])
        .await
        .unwrap();
    assert!(store.suspended_orgs().await.unwrap().is_empty());
}

pub async fn plans_are_kept_and_a_threshold_is_claimed_once(store: &dyn Store, _pg: bool) {
    use keygate_core::RateLimit;
    use keygate_core::quota::{Period, Plan, Quota};
    use keygate_store::{PlanRecord, QuotaThreshold};

    let plan = |name: &str, day: u32| PlanRecord {
        plan: Plan {
            plan_id: "basic".into(),
            name: name.into(),
            quotas: vec![Quota {
                period: Period::Day,
                requests: day,
            }],
            rate_limit: Some(RateLimit {
                requests: 5,
                per_seconds: 60,
            }),
        },
        created_at: NOW,
        updated_at: NOW,
    };
    assert!(
        store.put_plan(&plan("Basic", 100)).await.unwrap(),
        "created"
    );
    assert!(
        !store.put_plan(&plan("Basic+", 200)).await.unwrap(),
        "replaced"
    );
    assert_eq!(
        store.plan("basic").await.unwrap(),
        Some(plan("Basic+", 200))
    );
    assert_eq!(store.plans().await.unwrap(), vec![plan("Basic+", 200)]);
    // `profile` puts organizations on "basic".
    let a = profile("Acme", None);
    provision(store, &a, "owner@acme.test").await.unwrap();
    assert_eq!(
        store.org_plans().await.unwrap(),
        vec![(a.org_id.clone(), plan("Basic+", 200))]
    );
    assert_eq!(
        store.org_plan(&a.org_id).await.unwrap(),
        Some(plan("Basic+", 200))
    );
    let used = store.delete_plan("basic").await;
    assert!(matches!(used, Err(StoreError::Conflict(_))), "{used:?}");
    assert!(matches!(
        store.delete_plan("gold").await,
        Err(StoreError::NotFound)
    ));

    let t = QuotaThreshold {
        org_id: a.org_id.clone(),
        period: Period::Day,
        period_start: NOW,
        percent: 80,
    };
    let claim = || event(Some(&a.org_id), "quota.threshold", None);
    assert!(store.claim_quota_threshold(&t, &claim()).await.unwrap());
    assert!(
        !store.claim_quota_threshold(&t, &claim()).await.unwrap(),
        "once"
    );
    let next = QuotaThreshold { percent: 90, ..t };
    assert!(store.claim_quota_threshold(&next, &claim()).await.unwrap());

    let mut off = a.clone();
    off.plan_id = None;
    store.update_org_profile(&off, &[]).await.unwrap();
    store.delete_plan("basic").await.unwrap();
    assert_eq!(store.plans().await.unwrap(), vec![]);
}
