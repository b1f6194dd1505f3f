//! What every backend must do, as a user of the `Store` trait sees it.

use std::time::Duration;

use keygate_core::crypto::sha256;
use keygate_core::network::Networks;
use keygate_core::permission::{KeyScope, Permission};
use keygate_core::{
    Access, AccountId, AccountSelection, Catalog, ClientId, EventId, OnLeak, OrgId, RateLimit,
    Role, SessionFactors, UserId, WebhookId,
};
use keygate_store::{
    AccountRecord, AttemptOutcome, AttemptRecord, AuditEvent, AuditQuery, Change, DeliveryQuery,
    DeliveryStatus, DeliveryTarget, KeyEdit, KeyKind, KeyRecord, OrgRecord, SessionRecord, Store,
    StoreError, UserRecord, WebhookRecord,
};
use serde_json::json;

pub use crate::audit_chain::{
    an_audit_stream_is_leased_once_and_moves_on_only_from_where_it_was,
    the_audit_chain_has_no_gap_or_fork_under_concurrent_writers,
};
pub use crate::credits::credits_are_settled_and_their_exhaustion_claimed_once;
pub use crate::lifecycle::a_grace_period_keeps_the_previous_secret_and_each_notice_is_claimed_once;
pub use crate::operators::{
    operator_tokens_and_provisioned_orgs_are_kept, plans_are_kept_and_a_threshold_is_claimed_once,
};
pub use crate::passkeys::passkeys_are_kept_per_user_and_their_challenges_work_once;
pub use crate::people::invitations_resets_and_sessions_are_single_use_and_mail_one_person;
pub use crate::policy::allowlists_and_key_policies_are_kept;
pub use crate::sso::sso_settings_claim_each_domain_once_and_a_sign_in_adds_the_member;
pub use crate::usage::usage_adds_up_and_an_idle_key_is_claimed_once;

pub(crate) const NOW: i64 = 1_700_000_000_000;

pub(crate) fn event(org: Option<&OrgId>, action: &str, client_id: Option<&ClientId>) -> AuditEvent {
    AuditEvent {
        seq: 0,
        event_id: EventId::generate(),
        org_id: org.cloned(),
        occurred_at: NOW,
        actor_user_id: None,
        actor_email: Some("owner@acme.test".into()),
        client_id: client_id.cloned(),
        action: action.into(),
        source_ip: Some("127.0.0.1".into()),
        user_agent: None,
        details: json!({"n": 1}),
        prev_hash: String::new(),
        hash: String::new(),
    }
}

pub(crate) fn user(email: &str) -> UserRecord {
    UserRecord {
        user_id: UserId::generate(),
        email: email.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: NOW,
    }
}

pub(crate) struct Acme {
    pub(crate) org: OrgRecord,
    pub(crate) accounts: Vec<AccountRecord>,
    pub(crate) owner: UserId,
}

pub(crate) async fn acme(store: &dyn Store) -> Acme {
    let org = OrgRecord {
        org_id: OrgId::generate(),
        name: "Acme".into(),
        created_at: NOW,
    };
    let accounts: Vec<AccountRecord> = ["Acme HK", "Acme UK"]
        .iter()
        .map(|n| AccountRecord {
            account_id: AccountId::generate(),
            org_id: org.org_id.clone(),
            name: (*n).into(),
            created_at: NOW,
        })
        .collect();
    let owner = store
        .create_org(
            &org,
            &accounts,
            &user("owner@acme.test"),
            &event(Some(&org.org_id), "org.created", None),
        )
        .await
        .unwrap();
    Acme {
        org,
        accounts,
        owner,
    }
}

pub(crate) fn key(
    org: &OrgId,
    kind: KeyKind,
    owner_id: Option<&str>,
    scope: KeyScope,
    secret: &str,
) -> KeyRecord {
    KeyRecord {
        client_id: ClientId::generate(),
        org_id: org.clone(),
        kind,
        owner_id: owner_id.map(str::to_owned),
        name: "a key".into(),
        secret_hash: sha256(secret.as_bytes()),
        generation: 1,
        scope,
        rate_limit: None,
        expires_at: None,
        previous_secret: None,
        allowed_networks: Networks::default(),
        require_dpop: false,
        federation: Default::default(),
        created_at: NOW,
        updated_at: NOW,
        exposed_at: None,
        credits: None,
    }
}

/// A regenerate without grace period or expiry.
pub(crate) fn rotation(secret_hash: keygate_core::crypto::Digest) -> keygate_store::Rotation {
    keygate_store::Rotation {
        secret_hash,
        previous_secret_expires_at: None,
        expires_at: None,
        rate_limit: None,
    }
}

pub(crate) fn scoped(accounts: &[AccountRecord], resource: &str) -> KeyScope {
    KeyScope::scoped(
        &[],
        &AccountSelection::Some(accounts.iter().map(|a| a.account_id.clone()).collect()),
        &[Permission {
            resource: resource.into(),
            access: Access::Read,
        }],
        &Catalog::default_catalog(),
        |_| true,
    )
    .unwrap()
}

pub async fn a_new_database_is_empty_until_an_organization_is_created(
    store: &dyn Store,
    _pg: bool,
) {
    assert!(store.is_empty().await.unwrap());
    let acme = acme(store).await;
    assert!(!store.is_empty().await.unwrap());
    assert_eq!(
        store.org(&acme.org.org_id).await.unwrap(),
        Some(acme.org.clone())
    );
    assert_eq!(store.accounts(&acme.org.org_id).await.unwrap().len(), 2);
    assert_eq!(store.all_accounts().await.unwrap().len(), 2);
    let hk = &acme.accounts[0];
    assert_eq!(
        store.account(&hk.account_id).await.unwrap().as_ref(),
        Some(hk)
    );
    assert_eq!(store.org(&OrgId::generate()).await.unwrap(), None);
}

pub async fn users_sessions_and_members_are_kept_per_organization(store: &dyn Store, _pg: bool) {
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let owner = store
        .user_by_email("owner@acme.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.user_id, acme.owner);
    assert_eq!(
        store.role(org_id, &acme.owner).await.unwrap(),
        Some(Role::Owner)
    );

    // The same person owning a second organization stays one user, only when
    // asked for (an empty password hash names the existing account); a new
    // owner with a taken email is a conflict, never a silent reuse.
    let globex = OrgRecord {
        org_id: OrgId::generate(),
        name: "Globex".into(),
        created_at: NOW,
    };
    let taken = store
        .create_org(
            &globex,
            &[],
            &user("owner@acme.test"),
            &event(Some(&globex.org_id), "org.created", None),
        )
        .await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    let mut existing = user("owner@acme.test");
    existing.password_hash = String::new();
    let again = store
        .create_org(
            &globex,
            &[],
            &existing,
            &event(Some(&globex.org_id), "org.created", None),
        )
        .await
        .unwrap();
    assert_eq!(again, acme.owner);
    assert_eq!(store.memberships(&acme.owner).await.unwrap().len(), 2);

    // People join only by invitation (there is no other way to add a member).
    let dev = crate::people::join(store, org_id, "dev@acme.test", Role::Developer).await;
    store
        .set_member_role(
            org_id,
            &dev.user_id,
            Role::Viewer,
            &event(Some(org_id), "member.updated", None),
            &event(Some(org_id), "invitation.withdrawn", None),
        )
        .await
        .unwrap();
    assert_eq!(
        store.role(org_id, &dev.user_id).await.unwrap(),
        Some(Role::Viewer)
    );
    assert!(
        matches!(
            store
                .remove_member(
                    org_id,
                    &acme.owner,
                    &event(Some(org_id), "member.removed", None),
                    &event(Some(org_id), "invitation.withdrawn", None),
                )
                .await,
            Err(StoreError::NotFound)
        ),
        "the owner cannot be removed"
    );
    assert_eq!(store.members(org_id).await.unwrap().len(), 2);
    store
        .remove_member(
            org_id,
            &dev.user_id,
            &event(Some(org_id), "member.removed", None),
            &event(Some(org_id), "invitation.withdrawn", None),
        )
        .await
        .unwrap();
    assert_eq!(store.role(org_id, &dev.user_id).await.unwrap(), None);

    let session = SessionRecord {
        session_hash: sha256(b"session token"),
        session_id: keygate_core::SessionId::generate(),
        user_id: acme.owner.clone(),
        created_at: NOW,
        expires_at: NOW + 1000,
        last_seen_at: NOW,
        ip: Some("203.0.113.9".into()),
        user_agent: None,
        factors: keygate_core::SessionFactors::Password,
    };
    store
        .create_session(&session, &[event(Some(org_id), "session.created", None)])
        .await
        .unwrap();
    let found = store
        .session_user(&session.session_hash, NOW + 1)
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.user_id), Some(acme.owner.clone()));
    assert!(
        store
            .session_user(&session.session_hash, NOW + 1000)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    store.delete_session(&session.session_hash).await.unwrap();
    assert!(
        store
            .session_user(&session.session_hash, NOW + 1)
            .await
            .unwrap()
            .is_none()
    );
}

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

/// Polls a set of futures together on the current task (no extra dependency).
pub(crate) async fn futures_join_all<F: std::future::Future>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

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

fn webhook(org: &OrgId, events: &[&str], enabled: bool) -> WebhookRecord {
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

pub async fn two_factor_codes_and_recovery_codes_work_once(store: &dyn Store, _pg: bool) {
    let acme = acme(store).await;
    let (org_id, owner) = (&acme.org.org_id, &acme.owner);
    assert!(store.two_factor(owner).await.unwrap().is_none());
    store
        .begin_two_factor(owner, "v1.sealed", NOW)
        .await
        .unwrap();
    // Re-enrolling while pending replaces the secret.
    store
        .begin_two_factor(owner, "v1.again", NOW)
        .await
        .unwrap();
    let pending = store.two_factor(owner).await.unwrap().unwrap();
    assert_eq!(
        (pending.sealed_secret.as_str(), pending.enabled_at),
        ("v1.again", None)
    );
    assert!(
        !store.use_totp_step(owner, 5, NOW).await.unwrap(),
        "not on yet"
    );

    // Two sessions of the owner, both made with the password alone; the
    // second confirms the enrolment.
    let other = crate::people::session(owner, b"other session");
    let confirming = crate::people::session(owner, b"confirming session");
    for s in [&other, &confirming] {
        store.create_session(s, &[]).await.unwrap();
    }
    let factors = |s: &SessionRecord| {
        let hash = s.session_hash;
        async move {
            store
                .session(&hash, NOW + 1)
                .await
                .unwrap()
                .map(|(_, s)| s.factors)
        }
    };
    assert_eq!(factors(&confirming).await, Some(SessionFactors::Password));

    let codes = [sha256(b"one"), sha256(b"two")];
    let on = event(Some(org_id), "two_factor.enabled", None);
    store
        .enable_two_factor(owner, 10, &codes, &confirming.session_hash, NOW, &[on], &[])
        .await
        .unwrap();
    // The confirming session passed a code; the other one ended.
    assert_eq!(
        factors(&confirming).await,
        Some(SessionFactors::PasswordAndCode)
    );
    assert_eq!(factors(&other).await, None);
    // A session stored as made with a code reads back so.
    let mut with_code = crate::people::session(owner, b"with a code");
    with_code.factors = SessionFactors::PasswordAndCode;
    store.create_session(&with_code, &[]).await.unwrap();
    assert_eq!(
        factors(&with_code).await,
        Some(SessionFactors::PasswordAndCode)
    );

    // Re-sealing replaces a secret only while it is still the old one.
    let seals = store.two_factor_seals().await.unwrap();
    assert_eq!(
        seals
            .iter()
            .map(|t| (&t.user_id, t.sealed_secret.as_str()))
            .collect::<Vec<_>>(),
        [(owner, "v1.again")]
    );
    assert!(
        !store
            .reseal_two_factor(owner, "v1.other", "v2.new", NOW)
            .await
            .unwrap()
    );
    assert!(
        store
            .reseal_two_factor(owner, "v1.again", "v2.bound", NOW)
            .await
            .unwrap()
    );
    let on_now = store.two_factor(owner).await.unwrap().unwrap();
    assert_eq!(
        (on_now.sealed_secret.as_str(), on_now.enabled_at),
        ("v2.bound", Some(NOW))
    );
    assert!(matches!(
        store.begin_two_factor(owner, "v1.x", NOW).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.members(org_id).await.unwrap()[0].two_factor);

    assert!(
        !store.use_totp_step(owner, 10, NOW).await.unwrap(),
        "the confirming step"
    );
    assert!(store.use_totp_step(owner, 11, NOW).await.unwrap());
    assert!(
        !store.use_totp_step(owner, 11, NOW).await.unwrap(),
        "replayed"
    );
    let used = event(Some(org_id), "two_factor.recovery_code_used", None);
    assert!(
        store
            .use_recovery_code(owner, &codes[0], NOW, std::slice::from_ref(&used), &[])
            .await
            .unwrap()
    );
    assert!(
        !store
            .use_recovery_code(owner, &codes[0], NOW, &[used], &[])
            .await
            .unwrap()
    );

    let ch = sha256(b"challenge");
    store
        .create_two_factor_challenge(&ch, owner, NOW, NOW + 1000)
        .await
        .unwrap();
    assert_eq!(
        store
            .attempt_two_factor_challenge(&ch, NOW, 2)
            .await
            .unwrap()
            .as_ref(),
        Some(owner)
    );
    assert!(
        store
            .attempt_two_factor_challenge(&ch, NOW + 1000, 2)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert!(
        store
            .attempt_two_factor_challenge(&ch, NOW, 2)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .attempt_two_factor_challenge(&ch, NOW, 2)
            .await
            .unwrap()
            .is_none(),
        "no attempts left"
    );
    store.end_two_factor_challenge(&ch).await.unwrap();

    // The policy: only members without two-factor lack it.
    let added = crate::people::join(store, org_id, "dev@acme.test", Role::Developer).await;
    assert!(!store.require_two_factor(org_id).await.unwrap());
    assert!(
        !store
            .lacks_required_two_factor(org_id, &added.user_id, SessionFactors::Password)
            .await
            .unwrap()
    );
    store
        .set_require_two_factor(org_id, true, &event(Some(org_id), "org.updated", None))
        .await
        .unwrap();
    assert!(store.require_two_factor(org_id).await.unwrap());
    assert!(
        store
            .lacks_required_two_factor(org_id, &added.user_id, SessionFactors::Password)
            .await
            .unwrap()
    );
    assert!(
        !store
            .lacks_required_two_factor(org_id, owner, SessionFactors::PasswordAndCode)
            .await
            .unwrap()
    );
    // The owner has two-factor on, but a session made with the password
    // alone falls short.
    assert!(
        store
            .lacks_required_two_factor(org_id, owner, SessionFactors::Password)
            .await
            .unwrap()
    );

    store
        .disable_two_factor(
            owner,
            &[event(Some(org_id), "two_factor.disabled", None)],
            &[keygate_store::UserMail::notice(
                "owner@acme.test",
                "off",
                "off",
            )],
        )
        .await
        .unwrap();
    assert!(store.two_factor(owner).await.unwrap().is_none());
    assert!(
        store
            .lacks_required_two_factor(org_id, owner, SessionFactors::PasswordAndCode)
            .await
            .unwrap(),
        "a session made with a code, of a user who turned it off"
    );
    assert!(
        !store
            .use_recovery_code(owner, &codes[1], NOW, &[], &[])
            .await
            .unwrap()
    );
}

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

/// Rate limits: a key's own, kept through edits and read back by the cache's
/// loaders; an organization's default, set, listed and cleared.
pub async fn rate_limits_are_kept_on_keys_and_as_an_organization_default(
    store: &dyn Store,
    pg: bool,
) {
    let feed = store.subscribe_changes(real_now_ms).await.unwrap();
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let five = RateLimit {
        requests: 5,
        per_seconds: 60,
    };
    let mut s = key(
        org_id,
        KeyKind::Scoped,
        None,
        scoped(&acme.accounts[..1], "balances"),
        "s",
    );
    s.rate_limit = Some(five);
    store
        .insert_key(&s, &event(Some(org_id), "scoped_key.created", None))
        .await
        .unwrap();
    let read = store.key_by_client_id(&s.client_id).await.unwrap().unwrap();
    assert_eq!(read.rate_limit, Some(five));
    let mut creds = Vec::new();
    store
        .each_key_credential(&mut |k| creds.push(k))
        .await
        .unwrap();
    let cred = creds.iter().find(|k| k.client_id == s.client_id).unwrap();
    assert_eq!(cred.rate_limit, Some(five));

    let edited = store
        .update_key(
            org_id,
            &s.client_id,
            &KeyEdit {
                name: "renamed",
                scope: &s.scope,
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
    assert_eq!(edited.rate_limit, None);
    let ten = RateLimit {
        requests: 10,
        per_seconds: 1,
    };
    let set = store
        .set_key_rate_limit(
            org_id,
            &s.client_id,
            Some(ten),
            NOW + 2,
            &event(Some(org_id), "scoped_key.updated", None),
        )
        .await
        .unwrap();
    assert_eq!((set.rate_limit, set.updated_at), (Some(ten), NOW + 2));

    // A regenerate writes the limit the key has afterwards, with the secret.
    let regenerated = store
        .regenerate_key(
            org_id,
            &s.client_id,
            &keygate_store::Rotation {
                rate_limit: Some(five),
                ..rotation(sha256(b"limited"))
            },
            None,
            NOW + 3,
            &event(Some(org_id), "scoped_key.regenerated", None),
        )
        .await
        .unwrap();
    assert_eq!(regenerated.rate_limit, Some(five));
    let read = store.key_by_client_id(&s.client_id).await.unwrap().unwrap();
    assert_eq!(read.rate_limit, Some(five));

    assert_eq!(store.org_rate_limit(org_id).await.unwrap(), None);
    store
        .set_org_rate_limit(
            org_id,
            Some(five),
            &event(Some(org_id), "org.rate_limit_changed", None),
        )
        .await
        .unwrap();
    assert_eq!(store.org_rate_limit(org_id).await.unwrap(), Some(five));
    assert!(
        store
            .org_rate_limits()
            .await
            .unwrap()
            .contains(&(org_id.clone(), five))
    );
    store
        .set_org_rate_limit(
            org_id,
            None,
            &event(Some(org_id), "org.rate_limit_changed", None),
        )
        .await
        .unwrap();
    assert_eq!(store.org_rate_limit(org_id).await.unwrap(), None);
    assert!(
        !store
            .org_rate_limits()
            .await
            .unwrap()
            .iter()
            .any(|(o, _)| o == org_id)
    );
    let nowhere = OrgId::generate();
    assert!(matches!(
        store.org_rate_limit(&nowhere).await,
        Err(StoreError::NotFound)
    ));

    // Other instances hear of an org default change.
    if let Some(mut feed) = feed {
        assert!(pg);
        let mut orgs = 0;
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        while orgs < 2 {
            match tokio::time::timeout_at(until, feed.recv()).await {
                Ok(Some(Change::Org(o))) if &o == org_id => orgs += 1,
                Ok(Some(_)) => {}
                other => panic!("two org notices within 5 s, got {other:?}"),
            }
        }
    }
}

/// The clock a server would pass: here, the real one.
fn real_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
