//! The audit log's hash chain: every organization's events carry seq 1, 2,
//! 3, … with no gap, each linked to the one before by its hash, also when
//! many changes are written at the same moment; `after_seq` pages read it in
//! order; `keygate audit verify` recomputes it from the database and names the
//! first event that was edited or deleted behind Keygate's back.

use keygate_core::audit_chain::{GENESIS, event_hash};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Org, TestApp, cid, perms, poll, spawn_app};
use crate::inviters::sql;
use crate::slow_bodies::futures_join_all;

const WRONG: &str = "kg_live_000000000000000000000000000000000000";

fn key_body(name: &str) -> Value {
    json!({"name": name, "org_permissions": perms(&[("billing_invoices", "read")])})
}

async fn page(app: &TestApp, org: &Org, query: &str) -> Value {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/audit-events?{query}", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    r.body
}

/// The whole chain, read with `after_seq` pages of `limit`.
async fn chain(app: &TestApp, org: &Org, limit: u32) -> Vec<Value> {
    let mut events: Vec<Value> = Vec::new();
    let mut after = 0;
    loop {
        let body = page(app, org, &format!("after_seq={after}&limit={limit}")).await;
        let got = body["events"].as_array().unwrap();
        assert!(got.len() <= limit as usize);
        events.extend(got.iter().cloned());
        match body["next_after_seq"].as_i64() {
            Some(next) => {
                assert!(next > after, "{body}");
                after = next;
            }
            None => return events,
        }
    }
}

/// seq 1..N, each prev_hash the hash before, each hash that of the event.
fn assert_chain_holds(events: &[Value]) {
    let mut prev = GENESIS.to_owned();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"], json!(i + 1), "seqs: {:?}", seqs(events));
        assert_eq!(e["prev_hash"], json!(prev), "seq {}", i + 1);
        let hash = e["hash"].as_str().unwrap();
        assert_eq!(hash, event_hash(e), "seq {}: {e}", i + 1);
        assert!(hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        prev = hash.to_owned();
    }
}

fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn concurrent_changes_form_one_chain_without_gap_or_fork() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["Main"]).await;
    let other = app.create_org("Other", "owner@other.test", &["Main"]).await;
    let admin = app.admin_key(&org, &org.org_id).await;
    app.scoped_key(&other, key_body("theirs")).await;
    // A name JCS must write exactly as it is.
    let odd = "Grüße \"q\" \\ back/slash € 😀 \u{2028} end";
    app.scoped_key(&org, key_body(odd)).await;

    // Many writers at once: key creations through the API, failed logins
    // through the background audit queue, and the other organization.
    let creations: Vec<_> = (0..12)
        .map(|i| {
            let (app, org, other) = (&app, &org, &other);
            async move {
                let target = if i % 4 == 3 { other } else { org };
                app.scoped_key(target, key_body(&format!("concurrent-{i}")))
                    .await;
            }
        })
        .collect();
    let failures: Vec<_> = (0..4)
        .map(|_| {
            let (app, admin) = (&app, &admin);
            async move {
                let r = app.login(cid(admin), WRONG, None).await;
                assert_eq!(r.status, 401);
            }
        })
        .collect();
    let (_, _) = tokio::join!(futures_join_all(creations), futures_join_all(failures));

    // The failed logins are written off the request path: wait for them.
    let events = poll(std::time::Duration::from_secs(10), async || {
        let events = chain(&app, &org, 7).await;
        match events
            .iter()
            .filter(|e| e["action"] == "login.failed")
            .count()
        {
            4 => Ok(events),
            _ => Err(events),
        }
    })
    .await
    .unwrap_or_else(|events| events);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["action"] == "login.failed")
            .count(),
        4
    );
    assert_chain_holds(&events);
    assert!(events.len() >= 14, "{:?}", seqs(&events));
    assert!(events.iter().all(|e| e["org_id"] == json!(org.org_id)));
    let named = events
        .iter()
        .find(|e| e["details"]["name"] == json!(odd))
        .expect("the oddly named key's event");
    assert_eq!(named["hash"].as_str().unwrap(), event_hash(named));

    // The other organization's chain is its own, from seq 1.
    let theirs = chain(&app, &other, 50).await;
    assert_chain_holds(&theirs);
    let concurrent = |events: &[Value]| {
        events
            .iter()
            .filter(|e| {
                e["details"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("concurrent-"))
            })
            .count()
    };
    assert_eq!(concurrent(&theirs), 3, "{:?}", seqs(&theirs));
    assert_eq!(concurrent(&events), 9);

    // Newest first without after_seq, the same objects.
    let newest = page(&app, &org, "limit=3").await;
    let newest = newest["events"].as_array().unwrap();
    let n = events.len();
    assert_eq!(newest[0], events[n - 1]);
    assert_eq!(newest[2], events[n - 3]);
    // after_seq=K: the events after K; after the newest: none, and null.
    let mid = page(&app, &org, "after_seq=5&limit=3").await;
    assert_eq!(mid["events"].as_array().unwrap()[..], events[5..8]);
    assert_eq!(mid["next_after_seq"], json!(8));
    let end = page(&app, &org, &format!("after_seq={n}&limit=3")).await;
    assert_eq!(end["events"], json!([]));
    assert_eq!(end["next_after_seq"], Value::Null);
}

#[tokio::test]
async fn after_seq_is_refused_with_before_or_below_zero() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    for query in ["after_seq=-1", "after_seq=0&before=3", "after_seq=x"] {
        let r = app
            .req(
                Method::GET,
                &format!("/dev/v1/orgs/{}/audit-events?{query}", org.org_id),
                Some(&org.owner),
                None,
            )
            .await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert_eq!(r.code(), "validation_error");
    }
}

fn verify(app: &TestApp, args: &[&str]) -> (i32, String) {
    let mut all = vec!["audit", "verify"];
    all.extend(args);
    let out = app.cli(&all, "");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn audit_verify_names_the_first_event_edited_or_deleted_in_the_database() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let other = app.create_org("Other", "owner@other.test", &[]).await;
    for name in ["first", "tamper-me", "middle", "delete-me", "last"] {
        app.scoped_key(&org, key_body(name)).await;
    }
    app.scoped_key(&other, key_body("theirs")).await;
    let events = chain(&app, &org, 50).await;
    let n = events.len();
    let seq_of = |name: &str| {
        events
            .iter()
            .find(|e| e["details"]["name"] == json!(name))
            .unwrap()["seq"]
            .as_i64()
            .unwrap()
    };
    let (edited, deleted) = (seq_of("tamper-me"), seq_of("delete-me"));

    let (code, text) = verify(&app, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("{}: {n} events, the chain verifies", org.org_id)),
        "{text}"
    );
    let theirs = chain(&app, &other, 50).await.len();
    assert!(
        text.contains(&format!("{}: {theirs} events", other.org_id)),
        "{text}"
    );

    // One character of a name changed: exit 1 at that seq.
    let edit = |from: &str, to: &str| {
        format!(
            "update audit_events set details = replace(details, '{from}', '{to}') \
             where org_id = '{}' and details like '%{from}%'",
            org.org_id
        )
    };
    sql(&app, &edit("tamper-me", "tamper-mx")).await;
    let (code, text) = verify(&app, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!(
            "{}: the chain breaks at seq {edited}: its hash does not match",
            org.org_id
        )),
        "{text}"
    );
    // The other organization still verifies on its own.
    let (code, text) = verify(&app, &["--org", &other.org_id]);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains(&org.org_id), "{text}");
    let (code, _) = verify(&app, &["--org", &org.org_id]);
    assert_eq!(code, 1);

    sql(&app, &edit("tamper-mx", "tamper-me")).await;
    assert_eq!(verify(&app, &[]).0, 0);

    // An event deleted: exit 1 naming its seq as missing.
    sql(
        &app,
        &format!(
            "delete from audit_events where org_id = '{}' and org_seq = {deleted}",
            org.org_id
        ),
    )
    .await;
    let (code, text) = verify(&app, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("breaks at seq {deleted}: it is missing")),
        "{text}"
    );

    // The newest event deleted: the chain's head still knows it.
    sql(
        &app,
        &format!(
            "delete from audit_events where org_id = '{}' and org_seq = {theirs}",
            other.org_id
        ),
    )
    .await;
    let (code, text) = verify(&app, &["--org", &other.org_id]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!(
            "{}: the chain breaks at seq {theirs}: it is missing",
            other.org_id
        )),
        "{text}"
    );
}
