//! The store story of network allowlists and key policies, on both backends.

use keygate_core::federation::{FederationRule, FederationRules};
use keygate_core::network::Networks;
use keygate_core::policy::KeyPolicy;
use keygate_store::{AuditQuery, KeyEdit, KeyKind, Store};

use crate::story::{NOW, acme, event, key, scoped};

pub async fn allowlists_and_key_policies_are_kept(store: &dyn Store, _pg: bool) {
    let acme = acme(store).await;
    let org_id = &acme.org.org_id;
    let nets = Networks::parse(&["203.0.113.0/24", "2001:db8::/32"], "n").unwrap();
    let mut k = key(
        org_id,
        KeyKind::Scoped,
        None,
        scoped(&acme.accounts, "balances"),
        "s",
    );
    k.allowed_networks = nets.clone();
    k.require_dpop = true;
    let rules = FederationRules::parse(
        &[FederationRule {
            issuer: "https://token.actions.githubusercontent.com".into(),
            audience: "https://keygate.test".into(),
            subject: "repo:acme/app:*".into(),
        }],
        "federation",
        false,
    )
    .unwrap();
    k.federation = rules.clone();
    store
        .insert_key(&k, &event(Some(org_id), "scoped_key.created", None))
        .await
        .unwrap();
    let read = store.key(org_id, &k.client_id).await.unwrap().unwrap();
    assert_eq!(read.allowed_networks, nets);
    let mut creds = Vec::new();
    store
        .each_key_credential(&mut |c| creds.push(c))
        .await
        .unwrap();
    assert_eq!(creds[0].allowed_networks.as_deref(), Some(&nets));
    // A key that issues only DPoP-bound tokens says so in both reads, and
    // an edit turns it off (below).
    assert!(read.require_dpop && creds[0].require_dpop);
    // Federation rules are kept with the key (the cache does not hold them).
    assert_eq!(read.federation, rules);

    // An edit replaces the list; regenerate keeps it unless given one.
    let one = Networks::parse(&["127.0.0.2"], "n").unwrap();
    let edited = store
        .update_key(
            org_id,
            &k.client_id,
            &KeyEdit {
                name: "k",
                scope: &read.scope,
                rate_limit: None,
                expires_at: None,
                allowed_networks: &one,
                require_dpop: false,
                credits: None,
                federation: &Default::default(),
            },
            NOW + 1,
            &event(Some(org_id), "scoped_key.updated", None),
        )
        .await
        .unwrap();
    assert_eq!(edited.allowed_networks, one);
    assert!(!edited.require_dpop);
    assert!(edited.federation.is_empty(), "an edit replaces the rules");
    let ev = event(Some(org_id), "scoped_key.regenerated", None);
    let kept = store
        .regenerate_key(
            org_id,
            &k.client_id,
            &crate::story::rotation(k.secret_hash),
            None,
            NOW + 2,
            &ev,
        )
        .await
        .unwrap();
    assert_eq!(kept.allowed_networks, one);
    let ev = event(Some(org_id), "scoped_key.regenerated", None);
    let cleared = store
        .regenerate_key(
            org_id,
            &k.client_id,
            &crate::story::rotation(k.secret_hash),
            Some(&Networks::default()),
            NOW + 3,
            &ev,
        )
        .await
        .unwrap();
    assert!(cleared.allowed_networks.is_empty());
    let mut creds = Vec::new();
    store
        .each_key_credential(&mut |c| creds.push(c))
        .await
        .unwrap();
    assert_eq!(creds[0].allowed_networks, None, "anywhere is None");

    // Policies: none until set; set, replaced, and each change audited.
    assert_eq!(
        store.key_policy(org_id).await.unwrap(),
        KeyPolicy::default()
    );
    let strict = KeyPolicy {
        max_lifetime_days: Some(30),
        require_expiry: true,
        require_allowed_networks: true,
    };
    store
        .set_key_policy(
            org_id,
            &strict,
            NOW,
            &event(Some(org_id), "org.key_policy_updated", None),
        )
        .await
        .unwrap();
    assert_eq!(store.key_policy(org_id).await.unwrap(), strict);
    let loose = KeyPolicy {
        require_expiry: true,
        ..KeyPolicy::default()
    };
    store
        .set_key_policy(
            org_id,
            &loose,
            NOW + 1,
            &event(Some(org_id), "org.key_policy_updated", None),
        )
        .await
        .unwrap();
    assert_eq!(store.key_policy(org_id).await.unwrap(), loose);
    let log = store
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
    let n = log
        .iter()
        .filter(|e| e.action == "org.key_policy_updated")
        .count();
    assert_eq!(n, 2);
}
