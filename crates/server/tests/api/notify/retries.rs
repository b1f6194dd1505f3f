//! Notifications that cannot go out at once: webhook deliveries retried after
//! 500s and while the receiver is down, and mail kept while the SMTP server is.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;
use crate::receivers::*;

use super::{ALL_EVENTS, act, add_webhook, deliveries, fast_app, named};

#[tokio::test]
async fn failed_webhook_deliveries_are_retried_after_500s_and_while_the_receiver_is_down() {
    let mut hook = WebhookReceiver::start().await;
    hook.fail_next(2);
    let app = fast_app(None).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    let wh = add_webhook(&app, &org, &hook.url(), &ALL_EVENTS).await;
    let wid = wh["webhook_id"].as_str().unwrap();

    let key = app.scoped_key(&org, named("retried")).await;
    let posts = hook
        .wait_until(20, |p| p.iter().any(|p| p.answered == 200))
        .await;
    assert_eq!(
        posts.iter().map(|p| p.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    assert!(
        posts.windows(2).all(|w| w[0].body == w[1].body),
        "a retry sends the same event"
    );
    // The attempt is recorded after the POST is answered.
    let log = eventually(
        "the delivery recorded",
        Duration::from_secs(10),
        async || {
            let log = deliveries(&app, &org, wid).await;
            if log[0]["status"] == "delivered" {
                Ok(log)
            } else {
                Err(log[0].clone())
            }
        },
    )
    .await;
    let attempts = log[0]["attempt_log"].as_array().unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| a["status_code"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [500, 500, 200]
    );
    assert_eq!(attempts[0]["error"], "HTTP 500");
    assert!(attempts.iter().all(|a| a["latency_ms"].is_i64()));

    // Down: nothing listens; the key action still succeeds at once.
    hook.stop();
    let started = Instant::now();
    act(
        &app,
        &org,
        Method::POST,
        &format!("/scoped-keys/{}/regenerate", cid(&key)),
        json!({}),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    let log = eventually(
        "two attempts at the regenerated event",
        Duration::from_secs(10),
        async || {
            let log = deliveries(&app, &org, wid).await;
            let tried = log[0]["event_name"] == "scoped_key.regenerated"
                && log[0]["attempts"].as_u64() >= Some(2);
            if tried { Ok(log) } else { Err(log[0].clone()) }
        },
    )
    .await;
    assert_eq!(log[0]["status"], "pending");
    assert!(
        log[0]["attempt_log"][0]["error"]
            .as_str()
            .unwrap()
            .contains("connect"),
        "{}",
        log[0]
    );
    hook.restart().await;
    hook.wait_until(30, |p| {
        p.iter()
            .any(|p| p.answered == 200 && p.json()["name"] == "scoped_key.regenerated")
    })
    .await;

    // Manual redelivery sends the same event again.
    let first = log
        .iter()
        .find(|d| d["event_name"] == "scoped_key.created")
        .unwrap();
    let r = app
        .req(
            Method::POST,
            &format!(
                "/dev/v1/orgs/{}/deliveries/{}/redeliver",
                org.org_id,
                first["delivery_id"].as_str().unwrap()
            ),
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let posts = hook
        .wait_until(10, |p| {
            p.iter()
                .filter(|p| p.json()["name"] == "scoped_key.created")
                .count()
                == 4
        })
        .await;
    let created: BTreeSet<String> = posts
        .iter()
        .map(Post::json)
        .filter(|b| b["name"] == "scoped_key.created")
        .map(|b| b["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(created.len(), 1, "redelivery keeps the event id");
}

#[tokio::test]
async fn mail_is_not_lost_while_the_smtp_server_is_down() {
    let port = free_port();
    let app = fast_app(Some(port)).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    app.scoped_key(&org, named("while-down")).await;
    let path = format!("/dev/v1/orgs/{}/deliveries", org.org_id);
    let d = eventually(
        "two attempts at the mail",
        Duration::from_secs(10),
        async || {
            let r = app.req(Method::GET, &path, Some(&org.owner), None).await;
            let d = r.body["deliveries"][0].clone();
            if d["attempts"].as_u64() >= Some(2) {
                Ok(d)
            } else {
                Err(d)
            }
        },
    )
    .await;
    assert_eq!(
        (d["channel"].as_str(), d["status"].as_str()),
        (Some("email"), Some("pending")),
        "{d}"
    );

    let smtp = SmtpServer::start_on(port).await;
    let mails = smtp.wait_for(1, 30).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["owner@acme.test"]);
    assert!(mails[0].data.contains("while-down"));
}
