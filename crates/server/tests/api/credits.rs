//! Credits per key over real HTTP: each allowed token check at forward-auth
//! uses one, 429 `credits_exhausted` at 0, reads that catch up within
//! seconds, the refill at a UTC day's start by the test clock,
//! `api_key.credits_exhausted` once per setting and period (audit log and a
//! signed org webhook), and create, edit, duplicate and `null`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::notify::hex_hmac;
use crate::operator::verify;
use crate::receivers::{Post, WebhookReceiver};

const DAY_MS: i64 = 86_400_000;

fn metered(name: &str, org: &Org, credits: Value) -> Value {
    json!({"name": name, "credits": credits,
           "account_permissions": {"accounts": [&org.accounts[0]],
                                   "resources": perms(&[("balances", "read")])}})
}

/// A token of `key` once the server answers logins again after its clock
/// moved: on PostgreSQL the change feed confirms the moved clock within a
/// beat, and until then logins are 503 (a login uses no credit).
async fn login_after_clock_move(app: &TestApp, key: &Value) -> String {
    eventually("a login", Duration::from_secs(10), async || {
        let r = app.login(cid(key), secret(key), None).await;
        if r.status == 201 {
            Ok(r.body["token"].as_str().unwrap().to_owned())
        } else {
            Err(r.body)
        }
    })
    .await
}

async fn statuses(app: &TestApp, token: &str, n: usize) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = verify(app, token).await;
        out.push((r.status.as_u16(), r.code().to_owned()));
    }
    out
}

fn codes(s: &[(u16, String)]) -> Vec<u16> {
    s.iter().map(|(c, _)| *c).collect()
}

/// Reads the key until its `credits.remaining` is `want` (at most 10 s).
async fn wait_remaining(app: &TestApp, org: &Org, client_id: &str, want: i64) -> Value {
    let what = format!("credits.remaining {want}");
    eventually(&what, Duration::from_secs(10), async || {
        let k = app.get_scoped_key(org, client_id).await;
        if k["credits"]["remaining"] == want {
            Ok(k)
        } else {
            Err(k["credits"].clone())
        }
    })
    .await
}

async fn exhausted_events(app: &TestApp, org: &Org, client_id: &str) -> Vec<Value> {
    app.audit_events(org, "")
        .await
        .into_iter()
        .filter(|e| e["action"] == "api_key.credits_exhausted" && e["client_id"] == client_id)
        .collect()
}

/// Waits (at most 10 s) for `n` `api_key.credits_exhausted` events of the
/// key, then for the credits task to go past every note made so far, so
/// that a second event of one running out would be there: the events of
/// the notes the task takes are written in the order of the notes, so once a
/// probe key that runs out after them has its event, theirs are all in.
async fn wait_events(app: &TestApp, org: &Org, client_id: &str, n: usize) -> Vec<Value> {
    let what = format!("{n} credits_exhausted events");
    eventually(&what, Duration::from_secs(10), async || {
        let e = exhausted_events(app, org, client_id).await;
        if e.len() >= n {
            Ok(())
        } else {
            Err(format!("{} events", e.len()))
        }
    })
    .await;
    let probe = metered("probe", org, json!({"remaining": 1}));
    let probe = app.scoped_key(org, probe).await;
    let token = login_after_clock_move(app, &probe).await;
    assert_eq!(
        verify(app, &token).await.status,
        200,
        "the probe's one call"
    );
    eventually(
        "the probe key's credits_exhausted event",
        Duration::from_secs(10),
        async || match exhausted_events(app, org, cid(&probe)).await.len() {
            0 => Err("none"),
            _ => Ok(()),
        },
    )
    .await;
    exhausted_events(app, org, client_id).await
}

async fn patch(app: &TestApp, org: &Org, client_id: &str, body: Value) -> Resp {
    app.req(
        Method::PATCH,
        &format!("/dev/v1/orgs/{}/scoped-keys/{client_id}", org.org_id),
        Some(&org.owner),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn credits_run_out_then_an_edit_sets_new_ones_and_null_removes_them() {
    let hook = WebhookReceiver::start().await;
    let app = spawn_app_with(&["--allow-insecure-webhooks"], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/webhooks", org.org_id),
            Some(&org.owner),
            Some(
                json!({"url": hook.url(), "events": ["api_key.credits_exhausted"],
                        "password": PASSWORD}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let hook_secret = r.body["secret"].as_str().unwrap().to_owned();
    let key = app
        .scoped_key(&org, metered("metered", &org, json!({"remaining": 3})))
        .await;
    let id = cid(&key);
    assert_eq!(key["credits"], json!({"remaining": 3}));
    assert_eq!(
        app.get_scoped_key(&org, id).await["credits"]["remaining"],
        3
    );
    let token = app.token(&key, None).await;
    let s = statuses(&app, &token, 5).await;
    assert_eq!(codes(&s), [200, 200, 200, 429, 429], "{s:?}");
    assert_eq!(s[3].1, "credits_exhausted");
    // No refill: no Retry-After.
    let refused = verify(&app, &token).await;
    assert!(refused.headers.get("retry-after").is_none());
    wait_remaining(&app, &org, id, 0).await;
    let events = wait_events(&app, &org, id, 1).await;
    assert_eq!(events.len(), 1, "once: {events:?}");
    // Its own posts: the probe keys' events reach the webhook too.
    let of_key = |p: &Post| p.json()["data"]["client_id"] == id;
    let posts = hook.wait_until(10, |p| p.iter().any(of_key)).await;
    let posts: Vec<Post> = posts.into_iter().filter(of_key).collect();
    assert_eq!(posts.len(), 1);
    let p = &posts[0];
    assert_eq!(
        p.headers["x-signature"],
        hex_hmac(&hook_secret, &p.headers["x-timestamp"], &p.body)
    );
    assert_eq!(p.json()["name"], "api_key.credits_exhausted");
    assert_eq!(p.json()["data"]["client_id"], id);

    // An edit sets new credits (a new setting: its own event).
    let r = patch(
        &app,
        &org,
        id,
        json!({"credits": {"remaining": 2}, "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["credits"], json!({"remaining": 2}));
    assert_eq!(codes(&statuses(&app, &token, 3).await), [200, 200, 429]);
    assert_eq!(wait_events(&app, &org, id, 2).await.len(), 2);
    // An edit of something else keeps them (and what was used).
    let r = patch(
        &app,
        &org,
        id,
        json!({"name": "renamed", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(verify(&app, &token).await.status, 429);
    // null removes them: calls are allowed again.
    let r = patch(
        &app,
        &org,
        id,
        json!({"credits": null, "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["credits"], Value::Null);
    assert_eq!(app.get_scoped_key(&org, id).await["credits"], Value::Null);
    assert_eq!(codes(&statuses(&app, &token, 2).await), [200, 200]);
}

#[tokio::test]
async fn bad_credits_are_400_naming_the_field_and_nothing_is_written() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let url = format!("/dev/v1/orgs/{}/scoped-keys", org.org_id);
    for (credits, field) in [
        (json!({"remaining": -1}), "credits.remaining"),
        (json!({"remaining": "5"}), "credits.remaining"),
        (json!({"remaining": 2.5}), "credits.remaining"),
        (
            json!({"remaining": 1, "refill": {"amount": 0, "period": "day"}}),
            "credits.refill.amount",
        ),
        (
            json!({"remaining": 1, "refill": {"amount": 5, "period": "week"}}),
            "credits.refill.period",
        ),
        (json!(7), "credits"),
    ] {
        let mut body = metered("bad", &org, credits);
        body["password"] = json!(PASSWORD);
        let r = app
            .req(Method::POST, &url, Some(&org.owner), Some(body))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "validation_error"),
            "{}",
            r.body
        );
        assert_eq!(r.body["source"], field, "{}", r.body);
    }
    let list = format!("/dev/v1/orgs/{}/api-keys", org.org_id);
    let list = app.req(Method::GET, &list, Some(&org.owner), None).await;
    assert_eq!(list.body["scoped_keys"], json!([]), "{}", list.body);
    let key = app
        .scoped_key(&org, metered("ok", &org, json!({"remaining": 1})))
        .await;
    let r = patch(
        &app,
        &org,
        cid(&key),
        json!({"credits": {"remaining": 1, "refill": {"amount": 1}}, "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.body["source"], "credits.refill.period", "{}", r.body);
    assert_eq!(
        app.get_scoped_key(&org, cid(&key)).await["credits"],
        json!({"remaining": 1})
    );
}

async fn dup(app: &TestApp, org: &Org, client_id: &str, mut body: Value) -> Value {
    let url = format!(
        "/dev/v1/orgs/{}/scoped-keys/{client_id}/duplicate",
        org.org_id
    );
    body["password"] = json!(PASSWORD);
    let r = app
        .req(Method::POST, &url, Some(&org.owner), Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

#[tokio::test]
async fn a_duplicate_takes_the_originals_credits_or_its_own() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let terms = json!({"remaining": 5, "refill": {"amount": 10, "period": "month"}});
    let key = app.scoped_key(&org, metered("original", &org, terms)).await;
    let token = app.token(&key, None).await;
    assert_eq!(codes(&statuses(&app, &token, 2).await), [200, 200]);
    let copy = dup(&app, &org, cid(&key), json!({})).await;
    assert_eq!(
        copy["credits"],
        json!({"remaining": 3, "refill": {"amount": 10, "period": "month"}})
    );
    let own = dup(&app, &org, cid(&key), json!({"credits": {"remaining": 1}})).await;
    assert_eq!(own["credits"], json!({"remaining": 1}));
    let none = dup(&app, &org, cid(&key), json!({"credits": null})).await;
    assert_eq!(none["credits"], Value::Null);
    // The copy counts on its own.
    let t = app.token(&own, None).await;
    assert_eq!(codes(&statuses(&app, &t, 2).await), [200, 429]);
    assert_eq!(verify(&app, &token).await.status, 200);
}

#[tokio::test]
async fn a_daily_refill_comes_at_the_utc_day_start_and_the_event_once_per_day() {
    // The cache stays valid across the move to the next day (as in quotas.rs).
    let app = spawn_app_with(&["--cache-max-stale", "172800"], &[]).await;
    let mut org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let terms = json!({"remaining": 1, "refill": {"amount": 2, "period": "day"}});
    let key = app.scoped_key(&org, metered("daily", &org, terms)).await;
    let id = cid(&key);
    let token = login_after_clock_move(&app, &key).await;
    assert_eq!(verify(&app, &token).await.status, 200);
    let now = app.advance_clock(Duration::ZERO).await;
    let refused = verify(&app, &token).await;
    assert_eq!(
        (refused.status.as_u16(), refused.code()),
        (429, "credits_exhausted"),
        "{}",
        refused.body
    );
    let midnight = (now.div_euclid(DAY_MS) + 1) * DAY_MS;
    let retry: i64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected = (midnight - now) / 1000;
    assert!(
        (expected - 2..=expected + 2).contains(&retry),
        "Retry-After {retry}, expected about {expected}"
    );
    assert_eq!(verify(&app, &token).await.status, 429);
    assert_eq!(wait_events(&app, &org, id, 1).await.len(), 1);
    wait_remaining(&app, &org, id, 0).await;

    // The next UTC day: refilled to 2, used up, and a second event.
    // Up to a day later: the session and the token have expired meanwhile.
    app.move_clock_past(midnight).await;
    let token = login_after_clock_move(&app, &key).await;
    org.owner = app.sign_in("owner@acme.test", PASSWORD).await;
    assert_eq!(
        app.get_scoped_key(&org, id).await["credits"]["remaining"],
        2,
        "the read shows the refill"
    );
    let s = statuses(&app, &token, 3).await;
    assert_eq!(codes(&s), [200, 200, 429], "{s:?}");
    let events = wait_events(&app, &org, id, 2).await;
    assert_eq!(events.len(), 2, "one per day: {events:?}");
    wait_remaining(&app, &org, id, 0).await;
}
