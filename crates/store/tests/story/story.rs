//! What every backend must do, as a user of the `Store` trait sees it: the
//! story's shared fixtures (an organization with accounts, keys, audit events)
//! and its first chapter, an organization and its people. Every chapter, here
//! or in its own module, is re-exported for `on_both_backends!` in `main.rs`.

use keygate_core::crypto::sha256;
use keygate_core::network::Networks;
use keygate_core::permission::{KeyScope, Permission};
use keygate_core::{
    Access, AccountId, AccountSelection, Catalog, ClientId, EventId, OrgId, Role, UserId,
};
use keygate_store::{
    AccountRecord, AuditEvent, KeyKind, KeyRecord, OrgRecord, SessionRecord, Store, StoreError,
    UserRecord,
};
use serde_json::json;

pub use crate::audit_chain::{
    an_audit_stream_is_leased_once_and_moves_on_only_from_where_it_was,
    the_audit_chain_has_no_gap_or_fork_under_concurrent_writers,
};
pub use crate::changes::changes_are_announced_only_where_other_instances_may_write;
pub use crate::credits::credits_are_settled_and_their_exhaustion_claimed_once;
pub use crate::deliveries::{
    a_key_event_queues_webhook_deliveries_in_the_order_the_webhooks_are_listed,
    concurrent_claimers_never_take_the_same_delivery,
    key_events_queue_deliveries_that_one_claimer_at_a_time_leases,
};
pub use crate::keys::{
    an_owner_has_at_most_one_admin_key,
    concurrent_regenerates_each_commit_once_with_one_audit_entry,
    keys_are_stored_as_digests_and_regenerate_bumps_the_generation,
    scoped_keys_can_be_edited_and_deleted_but_admin_keys_cannot,
    the_audit_log_pages_newest_first_and_filters_by_key,
};
pub use crate::leaks::a_leaked_key_is_found_by_digest_and_flagged_or_revoked_once;
pub use crate::lifecycle::a_grace_period_keeps_the_previous_secret_and_each_notice_is_claimed_once;
pub use crate::operators::{
    operator_tokens_and_provisioned_orgs_are_kept, plans_are_kept_and_a_threshold_is_claimed_once,
};
pub use crate::passkeys::passkeys_are_kept_per_user_and_their_challenges_work_once;
pub use crate::people::invitations_resets_and_sessions_are_single_use_and_mail_one_person;
pub use crate::policy::allowlists_and_key_policies_are_kept;
pub use crate::rate_limits::rate_limits_are_kept_on_keys_and_as_an_organization_default;
pub use crate::sso::sso_settings_claim_each_domain_once_and_a_sign_in_adds_the_member;
pub use crate::two_factor::two_factor_codes_and_recovery_codes_work_once;
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

/// The clock a server would pass: here, the real one.
pub(crate) fn real_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
