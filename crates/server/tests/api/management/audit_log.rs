//! The audit log lists every key action, newest first, with who and where.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn the_audit_log_lists_every_key_action_newest_first_with_who_and_where() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let sk = app
        .scoped_key(
            &org,
            json!({"name": "k", "org_permissions": perms(&[("accounts", "read")])}),
        )
        .await;
    let other = app
        .scoped_key(
            &org,
            json!({"name": "other", "org_permissions": perms(&[("accounts", "read")])}),
        )
        .await;
    let base = format!("/dev/v1/orgs/{}/scoped-keys/{}", org.org_id, cid(&sk));
    app.req(
        Method::POST,
        &format!("{base}/regenerate"),
        Some(&org.owner),
        Some(json!({"password": PASSWORD})),
    )
    .await;
    app.req(
        Method::PATCH,
        &base,
        Some(&org.owner),
        Some(json!({"org_permissions": perms(&[("accounts", "write")]), "password": PASSWORD})),
    )
    .await;
    app.req(
        Method::DELETE,
        &base,
        Some(&org.owner),
        Some(json!({"password": PASSWORD})),
    )
    .await;
    let audit = format!("/dev/v1/orgs/{}/audit-events", org.org_id);
    let r = app
        .req(
            Method::GET,
            &format!("{audit}?client_id={}", cid(&sk)),
            Some(&org.owner),
            None,
        )
        .await;
    let events = r.body["events"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "scoped_key.deleted",
            "scoped_key.updated",
            "scoped_key.regenerated",
            "scoped_key.created"
        ]
    );
    let e = &events[1];
    assert_eq!(e["actor_email"], "owner@acme.test");
    assert_eq!(e["source_ip"], "127.0.0.1");
    assert_eq!(
        e["details"]["scope"]["before"]["org_permissions"],
        perms(&[("accounts", "read")])
    );
    assert_eq!(
        e["details"]["scope"]["after"]["org_permissions"],
        perms(&[("accounts", "write")])
    );
    assert!(!r.body.to_string().contains(secret(&sk)));
    // Paging: two at a time, newest first, no overlap.
    let p1 = app
        .req(
            Method::GET,
            &format!("{audit}?limit=2"),
            Some(&org.owner),
            None,
        )
        .await;
    let before = p1.body["next_before"].as_i64().unwrap();
    let p2 = app
        .req(
            Method::GET,
            &format!("{audit}?limit=2&before={before}"),
            Some(&org.owner),
            None,
        )
        .await;
    let seqs: Vec<i64> = [&p1, &p2]
        .iter()
        .flat_map(|p| {
            p.body["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap())
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    let all = app
        .req(
            Method::GET,
            &format!("{audit}?limit=200"),
            Some(&org.owner),
            None,
        )
        .await;
    let all_actions: Vec<&str> = all.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(all_actions.contains(&"session.created"));
    assert!(all_actions.contains(&"org.created"));
    assert_eq!(
        all_actions
            .iter()
            .filter(|a| **a == "scoped_key.created")
            .count(),
        2
    );
    let _ = other;
    let bad = app
        .req(
            Method::GET,
            &format!("{audit}?limit=0"),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(bad.status, 400);
}
