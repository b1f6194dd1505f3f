//! Audit streams: the organization's hash chain delivered at least once and
//! in order, from seq 1, as signed JSON lines over HTTP and as RFC 5424
//! syslog over TCP with octet counting; through a receiver outage and a
//! kill -9 of Keygate, each stream resumes after its last delivered seq.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use crate::helpers::{Org, PASSWORD, TestApp, eventually, perms, spawn_app_with};
use crate::receivers::WebhookReceiver;

fn key_body(name: &str) -> Value {
    json!({"name": name, "org_permissions": perms(&[("billing_invoices", "read")])})
}

/// Every event of the organization, ascending, as the API shows them.
async fn chain(app: &TestApp, org: &Org) -> Vec<Value> {
    let r = app
        .req(
            Method::GET,
            &format!(
                "/dev/v1/orgs/{}/audit-events?after_seq=0&limit=200",
                org.org_id
            ),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["events"].as_array().unwrap().clone()
}

async fn stream(app: &TestApp, org: &Org, id: &str) -> Value {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/audit-streams/{id}", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// A syslog collector: every octet-counted frame that arrived whole.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Vec<u8>>>>);

impl Collector {
    async fn start() -> (Collector, u16) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let c = Collector::default();
        let frames = c.0.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let frames = frames.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let _ = conn.read_to_end(&mut buf).await;
                    let mut rest = &buf[..];
                    while let Some(sp) = rest.iter().position(|b| *b == b' ') {
                        let len: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().unwrap();
                        let frame = rest[sp + 1..sp + 1 + len].to_vec();
                        frames.lock().unwrap().push(frame);
                        rest = &rest[sp + 1 + len..];
                    }
                    assert!(rest.is_empty(), "bytes between frames");
                });
            }
        });
        (c, port)
    }

    /// (the frame's header up to the MSG, the event) in arrival order.
    fn events(&self) -> Vec<(String, Value)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|f| {
                let text = String::from_utf8(f.clone()).unwrap();
                let at = text.find(" {").unwrap();
                (
                    text[..at].to_owned(),
                    serde_json::from_str(&text[at + 1..]).unwrap(),
                )
            })
            .collect()
    }
}

/// Seqs in arrival order hold 1..=newest, none arriving before a lower one
/// that was still missing.
fn in_order(seqs: &[i64], newest: i64) -> bool {
    let mut top = 0;
    for &s in seqs {
        if s > top + 1 {
            return false;
        }
        top = top.max(s);
    }
    top == newest
}

fn lines(posts: &[crate::receivers::Post]) -> Vec<Value> {
    posts
        .iter()
        .filter(|p| p.answered == 200)
        .flat_map(|p| {
            String::from_utf8(p.body.to_vec())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

#[tokio::test]
async fn streams_deliver_the_chain_in_order_through_an_outage_and_a_kill() {
    let mut app = spawn_app_with(
        &["--allow-insecure-webhooks"],
        &[("KEYGATE_RETRY_BASE_MS", "200")],
    )
    .await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    app.scoped_key(&org, key_body("before the streams")).await;
    let rx = WebhookReceiver::start().await;
    let (collector, port) = Collector::start().await;
    let base = format!("/dev/v1/orgs/{}/audit-streams", org.org_id);

    // The password is asked for, and a developer may not.
    let r = app
        .req(
            Method::POST,
            &base,
            Some(&org.owner),
            Some(json!({"url": rx.url(), "format": "jsonl"})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (401, "password_confirmation_failed")
    );
    let dev = app.invite_member(&org, "dev@acme.test", "developer").await;
    let r = app
        .req(
            Method::POST,
            &base,
            Some(&dev),
            Some(json!({"url": rx.url(), "format": "jsonl", "password": PASSWORD})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
    let r = app
        .req(
            Method::POST,
            &base,
            Some(&org.owner),
            Some(json!({"url": "tcp://127.0.0.1", "format": "syslog", "password": PASSWORD})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "validation_error"));

    let r = app
        .req(
            Method::POST,
            &base,
            Some(&org.owner),
            Some(json!({"url": rx.url(), "format": "jsonl", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["delivered_seq"], 0);
    let (jsonl, secret) = (
        r.body["stream_id"].as_str().unwrap().to_owned(),
        r.body["secret"].as_str().unwrap().to_owned(),
    );
    let r = app
        .req(
            Method::POST,
            &base,
            Some(&org.owner),
            Some(json!({"url": format!("tcp://127.0.0.1:{port}"), "format": "syslog", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let syslog = r.body["stream_id"].as_str().unwrap().to_owned();

    // Backfill: from seq 1, the events before the stream included.
    let newest = chain(&app, &org).await.len() as i64;
    eventually(
        "both streams caught up",
        Duration::from_secs(20),
        async || {
            let (a, b) = (
                stream(&app, &org, &jsonl).await,
                stream(&app, &org, &syslog).await,
            );
            if a["lag_seq"] == 0 && b["lag_seq"] == 0 {
                Ok(())
            } else {
                Err(format!("{a}\n{b}"))
            }
        },
    )
    .await;

    // An outage: the receiver answers 500; the stream shows its lag and error.
    rx.fail_next(3);
    app.scoped_key(&org, key_body("during the outage")).await;
    eventually("the outage shown", Duration::from_secs(20), async || {
        let s = stream(&app, &org, &jsonl).await;
        if s["last_error"].is_string() && s["lag_seq"].as_i64() > Some(0) {
            Ok(())
        } else {
            Err(s)
        }
    })
    .await;
    eventually(
        "the stream caught up",
        Duration::from_secs(30),
        async || {
            let s = stream(&app, &org, &jsonl).await;
            if s["lag_seq"] == 0 { Ok(()) } else { Err(s) }
        },
    )
    .await;

    // kill -9 in the middle of changes, then a restart on the same data.
    for i in 0..5 {
        app.scoped_key(&org, key_body(&format!("burst {i}"))).await;
    }
    app.restart_with(None, None);
    let org = Org {
        owner: app.sign_in("owner@acme.test", PASSWORD).await,
        ..org
    };
    app.scoped_key(&org, key_body("after the restart")).await;
    // A batch leased just before the kill waits for its lease to run out.
    app.advance_clock(Duration::from_secs(31)).await;
    let events = chain(&app, &org).await;
    let newest_now = events.len() as i64;
    assert!(newest_now > newest);
    let what = format!("both streams delivered up to seq {newest_now}");
    eventually(&what, Duration::from_secs(30), async || {
        let (a, b) = (
            stream(&app, &org, &jsonl).await,
            stream(&app, &org, &syslog).await,
        );
        if a["delivered_seq"] == newest_now && b["delivered_seq"] == newest_now && a["lag_seq"] == 0
        {
            Ok(())
        } else {
            Err(format!("{a}\n{b}"))
        }
    })
    .await;

    // Every seq arrived in order on both, each the API's own event object.
    let posts = rx.posts();
    let got = lines(&posts);
    let seqs: Vec<i64> = got.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(in_order(&seqs, newest_now), "{seqs:?}");
    for e in &got {
        assert_eq!(e, &events[e["seq"].as_i64().unwrap() as usize - 1]);
    }
    for p in &posts {
        assert!(p.headers["content-type"].starts_with("application/x-ndjson"));
        let ts = &p.headers["x-timestamp"];
        let want = crate::notify::hex_hmac(&secret, ts, &p.body);
        assert_eq!(p.headers["x-signature"], want);
    }
    let frames = collector.events();
    let seqs: Vec<i64> = frames
        .iter()
        .map(|(_, e)| e["seq"].as_i64().unwrap())
        .collect();
    assert!(in_order(&seqs, newest_now), "{seqs:?}");
    for (head, e) in &frames {
        assert!(head.starts_with("<110>1 20"), "{head}");
        assert!(head.ends_with(" - keygate - audit -"), "{head}");
        assert_eq!(e, &events[e["seq"].as_i64().unwrap() as usize - 1]);
    }

    // Deleted: gone.
    let r = app
        .req(
            Method::DELETE,
            &format!("{base}/{syslog}"),
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = app
        .req(
            Method::GET,
            &format!("{base}/{syslog}"),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
}
