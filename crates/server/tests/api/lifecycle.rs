//! Key lifecycle: regenerate with a grace period, and key expiry, through the
//! real API and token checks, with durations of seconds (the lifecycle
//! sweeper runs every second here). Events go to the audit log, mail and
//! webhooks once each, also with two instances on one PostgreSQL database.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const SWEEP: [&str; 2] = ["--lifecycle-interval", "1"];
const INTROSPECTION: &str = "introspection-secret-for-lifecycle";

fn rfc3339_in(secs: f64) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + (secs * 1000.0) as i64;
    keygate_core::time::format_rfc3339(ms)
}

fn ms_of(t: &Value) -> i64 {
    keygate_core::time::parse_rfc3339(t.as_str().expect("a time")).expect("RFC 3339")
}

async fn app() -> TestApp {
    spawn_app_with(
        &[SWEEP[0], SWEEP[1], "--introspection-secret", INTROSPECTION],
        &[],
    )
    .await
}

fn balances(name: &str, org: &Org) -> Value {
    json!({"name": name, "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}})
}

async fn regenerate(app: &TestApp, org: &Org, kind: &str, client_id: &str, body: Value) -> Resp {
    let mut body = body;
    body["password"] = PASSWORD.into();
    app.req(
        Method::POST,
        &format!(
            "/dev/v1/orgs/{}/{kind}-keys/{client_id}/regenerate",
            org.org_id
        ),
        Some(&org.owner),
        Some(body),
    )
    .await
}

/// The forward-auth decision for a token: 200, or 401 once it is refused.
async fn verify(app: &TestApp, token: &str) -> u16 {
    let rb = app
        .http
        .get(format!("{}/auth/verify", app.base))
        .bearer_auth(token)
        .header("x-original-method", "GET")
        .header("x-original-uri", "/api/v1/balances/current");
    app.send(rb).await.status.as_u16()
}

async fn introspect(app: &TestApp, token: &str) -> bool {
    let rb = app
        .http
        .post(format!("{}/oauth/introspect", app.base))
        .basic_auth("gateway", Some(INTROSPECTION))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"));
    let r = app.send(rb).await;
    assert_eq!(r.status, 200);
    r.body["active"] == true
}

/// The key's audit events, oldest first.
async fn events(app: &TestApp, org: &Org, client_id: &str) -> Vec<Value> {
    let mut list = app
        .audit_events(org, &format!("client_id={client_id}&limit=100"))
        .await;
    list.reverse();
    list
}

/// Waits up to 10 s for an audit event named `action` of the key.
async fn wait_for_event(app: &TestApp, org: &Org, client_id: &str, action: &str) -> Value {
    eventually(action, Duration::from_secs(10), async || {
        let events = events(app, org, client_id).await;
        let found = events.iter().find(|e| e["action"] == action).cloned();
        found.ok_or_else(|| format!("{} other events", events.len()))
    })
    .await
}

/// Waits until the sweeper has finished a whole round begun after this
/// call, so that a notice it were to send twice would be there. A round
/// goes through its keys in the order of their ids: the notice of a probe
/// key shows its round has begun; that of a second probe, made once the
/// first has its notice, shows that round is over. Moving the clock by the
/// interval ends the sweeper's pause at once.
async fn a_whole_sweep(app: &TestApp, org: &Org) {
    for _ in 0..2 {
        let mut body = balances("probe", org);
        body["expires_at"] = rfc3339_in(3.0 * 86400.0).into();
        let probe = app.scoped_key(org, body).await;
        app.advance_clock(Duration::from_secs(1)).await;
        wait_for_event(app, org, cid(&probe), "scoped_key.expiring").await;
    }
}

fn count(events: &[Value], action: &str) -> usize {
    events.iter().filter(|e| e["action"] == action).count()
}

/// Subjects of the mails written to the data dir so far.
fn mail_subjects(app: &TestApp) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(app.data_dir.join("mail")) else {
        return Vec::new();
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter_map(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
        })
        .collect()
}

/// Waits up to 10 s for a mail with this subject.
async fn wait_for_mail(app: &TestApp, subject: &str) {
    let what = format!("a mail {subject:?}");
    eventually(&what, Duration::from_secs(10), async || {
        let subjects = mail_subjects(app);
        if subjects.iter().any(|s| s == subject) {
            Ok(())
        } else {
            Err(format!("{subjects:?}"))
        }
    })
    .await;
}

#[tokio::test]
async fn a_grace_period_keeps_the_old_secret_and_its_tokens_until_it_ends() {
    let app = app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let k = app.scoped_key(&org, balances("rolling", &org)).await;
    let acct = Some(org.accounts[0].as_str());
    let old_token = app.token(&k, acct).await;

    let r = regenerate(
        &app,
        &org,
        "scoped",
        cid(&k),
        json!({"previous_secret_expires_in": 3}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new = r.body.clone();
    assert_ne!(secret(&new), secret(&k));
    let grace_end = ms_of(&new["previous_secret_expires_at"]);

    // During the grace: both secrets log in, the old token works; a token
    // of the old secret ends with the grace at the latest.
    let during = app.login(cid(&k), secret(&k), acct).await;
    assert_eq!(during.status, 201, "{}", during.body);
    let during_token = during.body["token"].as_str().unwrap().to_owned();
    let token_end = ms_of(&json!(
        during.body["expires_at"]
            .as_str()
            .unwrap()
            .replace("+0000", "Z")
    ));
    assert!(token_end <= grace_end, "{token_end} > {grace_end}");
    let new_token = app.token(&new, acct).await;
    assert_eq!(verify(&app, &old_token).await, 200);
    assert_eq!(verify(&app, &during_token).await, 200);
    assert!(introspect(&app, &old_token).await);
    let shown = app.get_scoped_key(&org, cid(&k)).await;
    assert_eq!(
        shown["previous_secret_expires_at"],
        new["previous_secret_expires_at"]
    );
    let regenerated = wait_for_event(&app, &org, cid(&k), "scoped_key.regenerated").await;
    assert_eq!(
        regenerated["details"]["previous_secret_expires_at"],
        new["previous_secret_expires_at"]
    );

    // After it: the old secret is a wrong key, its tokens are refused; the
    // new ones work.
    app.move_clock_past(grace_end).await;
    let wrong = app
        .login(cid(&k), "kg_live_notarealkey000000000000000000000", acct)
        .await;
    let old = app.login(cid(&k), secret(&k), acct).await;
    assert_eq!(old.status, 401);
    assert_eq!(old.body, wrong.body, "exactly like a wrong key");
    assert_eq!(verify(&app, &old_token).await, 401);
    assert_eq!(verify(&app, &during_token).await, 401);
    assert!(!introspect(&app, &old_token).await);
    assert_eq!(verify(&app, &new_token).await, 200);
    assert_eq!(app.login(cid(&k), secret(&new), acct).await.status, 201);

    // The sweeper says so once, by mail too.
    let ended = wait_for_event(&app, &org, cid(&k), "scoped_key.previous_secret_expired").await;
    assert!(ended["actor_user_id"].is_null());
    a_whole_sweep(&app, &org).await;
    let all = events(&app, &org, cid(&k)).await;
    assert_eq!(count(&all, "scoped_key.previous_secret_expired"), 1);
    assert!(app.get_scoped_key(&org, cid(&k)).await["previous_secret_expires_at"].is_null());
    wait_for_mail(
        &app,
        "The old secret of Scoped API key 'rolling' stopped working",
    )
    .await;
}

#[tokio::test]
async fn a_second_regenerate_ends_the_first_grace_at_once_and_no_grace_is_today_behaviour() {
    let app = app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let acct = Some(org.accounts[0].as_str());
    let first = app.scoped_key(&org, balances("twice", &org)).await;
    let first_token = app.token(&first, acct).await;
    let week = json!({"previous_secret_expires_in": 604800});
    let second = regenerate(&app, &org, "scoped", cid(&first), week.clone())
        .await
        .body;
    assert_eq!(
        app.login(cid(&first), secret(&first), acct).await.status,
        201
    );
    let second_token = app.token(&second, acct).await;
    let third = regenerate(&app, &org, "scoped", cid(&first), week)
        .await
        .body;
    // At most two secrets: the first and its tokens died with this regenerate.
    assert_eq!(
        app.login(cid(&first), secret(&first), acct).await.status,
        401
    );
    assert_eq!(verify(&app, &first_token).await, 401);
    assert_eq!(
        app.login(cid(&first), secret(&second), acct).await.status,
        201
    );
    assert_eq!(verify(&app, &second_token).await, 200);
    assert_eq!(
        app.login(cid(&first), secret(&third), acct).await.status,
        201
    );

    // Without a grace period (the default, or 0): the old secret dies now.
    let fourth = regenerate(&app, &org, "scoped", cid(&first), json!({}))
        .await
        .body;
    assert_eq!(
        app.login(cid(&first), secret(&third), acct).await.status,
        401
    );
    assert_eq!(verify(&app, &second_token).await, 401);
    assert!(fourth["previous_secret_expires_at"].is_null());
    let ev = wait_for_event(&app, &org, cid(&first), "scoped_key.regenerated").await;
    assert!(ev["details"]["previous_secret_expires_at"].is_string());
    let fifth = regenerate(
        &app,
        &org,
        "scoped",
        cid(&first),
        json!({"previous_secret_expires_in": 0}),
    )
    .await;
    assert_eq!(fifth.status, 200);
    assert_eq!(
        app.login(cid(&first), secret(&fourth), acct).await.status,
        401
    );
}

#[tokio::test]
async fn an_expired_key_is_a_wrong_key_its_tokens_die_and_it_is_listed_as_expired() {
    let app = app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let acct = Some(org.accounts[0].as_str());
    let mut body = balances("short-lived", &org);
    body["expires_at"] = rfc3339_in(3.0).into();
    let k = app.scoped_key(&org, body).await;
    let expires_at = ms_of(&k["expires_at"]);
    assert_eq!(k["expired"], false);
    let r = app.login(cid(&k), secret(&k), acct).await;
    assert_eq!(r.status, 201);
    let token = r.body["token"].as_str().unwrap().to_owned();
    let token_end = ms_of(&json!(
        r.body["expires_at"].as_str().unwrap().replace("+0000", "Z")
    ));
    assert!(token_end <= expires_at, "a token never outlives its key");
    assert_eq!(verify(&app, &token).await, 200);
    assert!(introspect(&app, &token).await);
    // Within a day of its expiry: the 1-day warning, at once.
    let warning = wait_for_event(&app, &org, cid(&k), "scoped_key.expiring").await;
    assert_eq!(warning["details"]["expires_within_days"], 1);

    // A grace period never outlives the key.
    let r = regenerate(
        &app,
        &org,
        "scoped",
        cid(&k),
        json!({"previous_secret_expires_in": 604800}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["previous_secret_expires_at"], k["expires_at"]);
    let new = r.body.clone();

    app.move_clock_past(expires_at).await;
    let wrong = app
        .login(cid(&k), "kg_live_notarealkey000000000000000000000", acct)
        .await;
    for s in [secret(&k), secret(&new)] {
        let r = app.login(cid(&k), s, acct).await;
        assert_eq!((r.status.as_u16(), &r.body), (401, &wrong.body));
    }
    assert_eq!(verify(&app, &token).await, 401);
    assert!(!introspect(&app, &token).await);
    let shown = app.get_scoped_key(&org, cid(&k)).await;
    assert_eq!(
        (shown["expired"].clone(), shown["expires_at"].clone()),
        (json!(true), k["expires_at"].clone())
    );
    let list = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/api-keys", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(list.body["scoped_keys"][0]["expired"], true);

    wait_for_event(&app, &org, cid(&k), "scoped_key.expired").await;
    a_whole_sweep(&app, &org).await;
    let all = events(&app, &org, cid(&k)).await;
    assert_eq!(count(&all, "scoped_key.expiring"), 1);
    assert_eq!(count(&all, "scoped_key.expired"), 1);
    wait_for_mail(&app, "Scoped API key 'short-lived' has expired").await;

    // Given a later expiry, it works again.
    let r = app
        .req(
            Method::PATCH,
            &format!("/dev/v1/orgs/{}/scoped-keys/{}", org.org_id, cid(&k)),
            Some(&org.owner),
            Some(json!({"expires_at": rfc3339_in(3600.0), "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["expired"].clone()),
        (200, json!(false))
    );
    assert_eq!(app.login(cid(&k), secret(&new), acct).await.status, 201);
}

#[tokio::test]
async fn edit_duplicate_and_admin_regenerate_set_keep_and_clear_the_expiry() {
    let app = app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let k = app.scoped_key(&org, balances("edited", &org)).await;
    assert!(k["expires_at"].is_null());
    let path = format!("/dev/v1/orgs/{}/scoped-keys/{}", org.org_id, cid(&k));
    let patch = |body: Value| {
        let mut body = body;
        body["password"] = PASSWORD.into();
        app.req(Method::PATCH, &path, Some(&org.owner), Some(body))
    };
    let in_a_week = rfc3339_in(7.0 * 86400.0);
    let r = patch(json!({"expires_at": in_a_week})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        ms_of(&r.body["expires_at"]) / 1000,
        ms_of(&json!(in_a_week)) / 1000
    );
    let r = patch(json!({"name": "renamed"})).await;
    assert_eq!(
        r.body["expires_at"],
        app.get_scoped_key(&org, cid(&k)).await["expires_at"]
    );
    assert!(r.body["expires_at"].is_string(), "absent keeps it");
    let r = patch(json!({"expires_at": null})).await;
    assert!(r.body["expires_at"].is_null(), "null clears it");

    let r = app
        .req(
            Method::POST,
            &format!("{path}/duplicate"),
            Some(&org.owner),
            Some(json!({"expires_at": in_a_week, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body["expires_at"].is_string());

    // Admin keys get theirs through regenerate.
    let admin = app.admin_key(&org, &org.org_id).await;
    assert!(admin["expires_at"].is_null());
    let r = regenerate(
        &app,
        &org,
        "admin",
        cid(&admin),
        json!({"expires_at": in_a_week}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["expires_at"].is_string());
    let kept = regenerate(&app, &org, "admin", cid(&admin), json!({})).await;
    assert_eq!(kept.body["expires_at"], r.body["expires_at"]);
    let cleared = regenerate(
        &app,
        &org,
        "admin",
        cid(&admin),
        json!({"expires_at": null}),
    )
    .await;
    assert!(cleared.body["expires_at"].is_null());
    assert_eq!(cleared.body["expired"], false);
}

/// A key expiring in 3 days gets its 7-day warning (and no other notice)
/// once, however many instances sweep, before and after `between`.
async fn warned_once(apps: &mut [TestApp], restart: bool) {
    let app = &apps[0];
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let mut body = balances("three-days", &org);
    body["expires_at"] = rfc3339_in(3.0 * 86400.0).into();
    let k = app.scoped_key(&org, body).await;
    let w = wait_for_event(app, &org, cid(&k), "scoped_key.expiring").await;
    assert_eq!(w["details"]["expires_within_days"], 7);
    assert!(w["details"]["expires_at"].is_string());
    if restart {
        apps[0].restart_with(None, None);
    }
    if let [one] = apps {
        a_whole_sweep(one, &org).await;
    } else {
        // Fixed: each instance sweeps on its own timer, and no one event
        // shows that every one of them has swept again.
        tokio::time::sleep(Duration::from_millis(3000)).await;
    }
    for a in apps.iter() {
        let all = events(a, &org, cid(&k)).await;
        assert_eq!(count(&all, "scoped_key.expiring"), 1, "{all:?}");
        assert_eq!(count(&all, "scoped_key.expired"), 0);
    }
}

#[tokio::test]
async fn the_seven_day_warning_is_sent_once_across_a_restart() {
    warned_once(&mut [app().await], true).await;
}

#[tokio::test]
async fn the_seven_day_warning_is_sent_once_by_two_instances_on_postgresql() {
    let Some(db) = PgDb::create("lifecycle: warnings once across two instances").await else {
        return;
    };
    let dir = temp_dir();
    let mut apps = [
        spawn_process(&dir, Some(db.clone()), &SWEEP, &[]),
        spawn_process(&dir, Some(db), &SWEEP, &[]),
    ];
    warned_once(&mut apps, false).await;
    drop(apps);
    let _ = std::fs::remove_dir_all(&dir);
}

mod input;
