//! A clean stop (SIGTERM): the listener closes, every background task finishes
//! the unit of work it is in (a webhook delivery under way, the usage flush),
//! and nothing counted or delivered is lost or left half recorded.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::gateway::gateway;
use crate::helpers::*;
use crate::notify::deliveries;
use crate::receivers::WebhookReceiver;

#[tokio::test]
async fn sigterm_during_deliveries_and_counted_calls_loses_no_count_and_leaves_no_delivery_half_recorded()
 {
    // A receiver that takes a while to answer: the deliveries are under way
    // when the stop comes. A flush interval longer than the test: only the
    // stop writes the counts.
    let hook = WebhookReceiver::start().await;
    hook.set_delay(Duration::from_millis(1500));
    let flags = ["--usage-flush-interval", "10", "--allow-insecure-webhooks"];
    let mut g = gateway(&flags).await;
    let r = g
        .app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/webhooks", g.org.org_id),
            Some(&g.org.owner),
            Some(
                json!({"url": hook.url(), "events": ["scoped_key.created"], "password": PASSWORD}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let webhook_id = r.body["webhook_id"].as_str().unwrap().to_owned();

    let mut keys = Vec::new();
    for name in ["a", "b", "c"] {
        let body = json!({"name": name, "account_permissions": {"accounts": [&g.org.accounts[0]], "resources": perms(&[("balances", "read")])}});
        keys.push(g.app.scoped_key(&g.org, body).await);
    }
    let token = g.app.token(&keys[0], None).await;
    let calls = 7;
    for _ in 0..calls {
        let r = g
            .app
            .send(
                g.app
                    .http
                    .get(format!("{}/api/v1/balances/current", g.app.base))
                    .bearer_auth(&token),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    // All three deliveries have reached the receiver, none is answered yet.
    eventually(
        "three deliveries under way",
        Duration::from_secs(20),
        async || match hook.arrived() {
            n if n >= 3 => Ok(()),
            n => Err(format!("{n} arrived")),
        },
    )
    .await;
    assert!(hook.posts().is_empty(), "answered before the stop");

    g.app.terminate().await;
    // The stop waited for the deliveries under way: each was answered.
    let answered = hook.posts();
    assert_eq!(answered.len(), 3, "deliveries cut off by the stop");
    assert!(answered.iter().all(|p| p.answered == 200));
    assert!(
        g.app.log().contains("stopping: the listener is closed"),
        "{}",
        g.app.log()
    );

    let args: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    g.app.restart_with(Some(&args), None);
    // Each delivery is recorded as delivered, once: none waits for its lease
    // to run out to be sent again.
    let log = deliveries(&g.app, &g.org, &webhook_id).await;
    assert_eq!(log.len(), 3, "{log:#?}");
    for d in &log {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempt_log"].as_array().unwrap().len(), 1, "{d}");
    }
    // Every counted call was written at the stop.
    let session = g.app.sign_in("owner@acme.test", PASSWORD).await;
    let r = g
        .app
        .req(
            Method::GET,
            &format!(
                "/dev/v1/orgs/{}/usage?client_id={}&granularity=day",
                g.org.org_id,
                cid(&keys[0])
            ),
            Some(&session),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let allowed: u64 = r.body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["allowed"].as_u64().unwrap())
        .sum();
    assert_eq!(allowed, calls, "{}", r.body);
}
