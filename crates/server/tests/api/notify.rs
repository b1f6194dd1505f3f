//! Notifications: every key event reaches the organization's mailboxes and its
//! webhooks, signed, retried, and never lost, not even to `kill -9`.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::receivers::*;

const ALL_EVENTS: [&str; 7] = [
    "admin_key.generated",
    "admin_key.regenerated",
    "scoped_key.created",
    "scoped_key.regenerated",
    "scoped_key.duplicated",
    "scoped_key.updated",
    "scoped_key.deleted",
];

pub(crate) fn hex_hmac(secret: &str, ts: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn fast_app(smtp: Option<u16>) -> TestApp {
    let smtp_url = smtp.map(|p| format!("smtp://127.0.0.1:{p}"));
    let mut args = vec!["--allow-insecure-webhooks"];
    if let Some(u) = &smtp_url {
        args.extend(["--smtp-url", u.as_str()]);
    }
    spawn_app_with(&args, &[("KEYGATE_RETRY_BASE_MS", "200")]).await
}

async fn add_webhook(app: &TestApp, org: &Org, url: &str, events: &[&str]) -> Value {
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/webhooks", org.org_id),
            Some(&org.owner),
            Some(json!({"url": url, "events": events, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "register webhook: {}", r.body);
    r.body
}

async fn add_member(app: &TestApp, org: &Org, email: &str, role: &str) {
    app.invite_member(org, email, role).await;
}

/// Invites and accepts with the link read from the SMTP server.
pub(crate) async fn add_member_by_smtp(
    app: &TestApp,
    smtp: &SmtpServer,
    org: &Org,
    email: &str,
    role: &str,
) {
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/invitations", org.org_id),
            Some(&org.owner),
            Some(json!({"email": email, "role": role, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "invite: {}", r.body);
    let is_invite =
        |m: &Mail| m.to.iter().any(|t| t.contains(email)) && m.data.contains("/app/invitations/");
    let mails = smtp.wait_until(10, |ms| ms.iter().any(is_invite)).await;
    let mail = mails
        .iter()
        .find(|m| is_invite(m))
        .expect("the invitation mail");
    let link = link_in(&mail.data, "/app/invitations/").unwrap();
    let token = link.rsplit('/').next().unwrap();
    app.remember(token);
    let r = app
        .req(
            Method::POST,
            "/dev/v1/invitations/accept",
            None,
            Some(json!({"token": token, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "accept: {}", r.body);
}

/// A key action with the owner's password; returns the answer's body.
async fn act(app: &TestApp, org: &Org, method: Method, path: &str, body: Value) -> Value {
    let mut body = body;
    body["password"] = PASSWORD.into();
    let r = app
        .req(
            method,
            &format!("/dev/v1/orgs/{}{path}", org.org_id),
            Some(&org.owner),
            Some(body),
        )
        .await;
    assert!(r.status.is_success(), "{path}: {} {}", r.status, r.body);
    r.body
}

/// All seven key events, on one org admin key and one scoped key. Returns the secrets shown.
async fn every_key_event(app: &TestApp, org: &Org) -> Vec<String> {
    let admin = app.admin_key(org, &org.org_id).await;
    let regen = act(
        app,
        org,
        Method::POST,
        &format!("/admin-keys/{}/regenerate", cid(&admin)),
        json!({}),
    )
    .await;
    let scoped = app
        .scoped_key(org, json!({"name": "billing-sync", "account_permissions": {"accounts": [org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let s = cid(&scoped).to_owned();
    let regen2 = act(
        app,
        org,
        Method::POST,
        &format!("/scoped-keys/{s}/regenerate"),
        json!({}),
    )
    .await;
    let dup = act(
        app,
        org,
        Method::POST,
        &format!("/scoped-keys/{s}/duplicate"),
        json!({}),
    )
    .await;
    act(app, org, Method::PATCH, &format!("/scoped-keys/{s}"), json!({"account_permissions": {"accounts": "all", "resources": perms(&[("balances", "write")])}})).await;
    act(
        app,
        org,
        Method::DELETE,
        &format!("/scoped-keys/{s}"),
        json!({}),
    )
    .await;
    [&admin, &regen, &scoped, &regen2, &dup]
        .iter()
        .map(|k| secret(k).to_owned())
        .collect()
}

#[tokio::test]
async fn every_key_event_is_mailed_to_owners_admins_and_developers_without_any_secret() {
    let smtp = SmtpServer::start().await;
    let app = fast_app(Some(smtp.port)).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    for (email, role) in [
        ("admin@acme.test", "admin"),
        ("dev@acme.test", "developer"),
        ("analyst@acme.test", "analyst"),
        ("viewer@acme.test", "viewer"),
    ] {
        add_member_by_smtp(&app, &smtp, &org, email, role).await;
    }
    let secrets = every_key_event(&app, &org).await;

    // The four invitations went by mail too; the key events are the rest.
    let mails: Vec<Mail> = smtp
        .wait_for(7 * 3 + 4, 30)
        .await
        .into_iter()
        .filter(|m| !m.data.contains("/app/invitations/"))
        .collect();
    assert_eq!(
        mails.len(),
        7 * 3,
        "one mail per event per owner/admin/developer"
    );
    let mut per_event: HashMap<String, BTreeSet<String>> = HashMap::new();
    for m in &mails {
        per_event
            .entry(m.event_id().unwrap())
            .or_default()
            .extend(m.to.iter().cloned());
        for s in &secrets {
            assert!(!m.data.contains(s.as_str()), "a key secret is in a mail");
        }
        assert!(m.data.contains("text/plain") && m.data.contains("text/html"));
        assert!(m.data.contains("If this was not you"));
    }
    let want: BTreeSet<String> = ["admin@acme.test", "dev@acme.test", org.owner.email.as_str()]
        .map(String::from)
        .into();
    assert_eq!(per_event.len(), 7);
    assert!(per_event.values().all(|to| *to == want), "{per_event:?}");
    let all = mails.iter().map(|m| m.data.as_str()).collect::<String>();
    assert!(all.contains("Subject: Scoped API key 'billing-sync' was regenerated"));
    assert!(all.contains("Subject: Admin API key 'Organization admin key' was generated"));
    assert!(all.contains("owner@acme.test (usr_"), "who did it");
    assert!(all.contains("127.0.0.1"), "from where");
}

#[tokio::test]
async fn webhooks_get_each_subscribed_event_signed_with_the_secret_shown_once() {
    let hook = WebhookReceiver::start().await;
    let only_deletes = WebhookReceiver::start().await;
    let app = fast_app(None).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    let all = add_webhook(&app, &org, &hook.url(), &ALL_EVENTS).await;
    let only = add_webhook(&app, &org, &only_deletes.url(), &["scoped_key.deleted"]).await;
    let secret = all["secret"].as_str().unwrap().to_owned();
    let list = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/webhooks", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    assert!(
        !list.body.to_string().contains(&secret),
        "the secret is shown once"
    );

    let secrets = every_key_event(&app, &org).await;

    let posts = hook.wait_until(30, |p| p.len() >= 7).await;
    let names: BTreeSet<String> = posts
        .iter()
        .map(|p| p.json()["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ALL_EVENTS.map(String::from).into());
    for p in &posts {
        let ts = &p.headers["x-timestamp"];
        assert_eq!(
            p.headers["x-signature"],
            hex_hmac(&secret, ts, &p.body),
            "signature"
        );
        let ms: i64 = ts.parse().unwrap();
        assert!((ms - now_ms()).abs() < 60_000);
        let body = p.json();
        assert_eq!(p.headers["idempotency-key"], body["id"].as_str().unwrap());
        assert_eq!(body["org_id"], org.org_id.as_str());
        assert_eq!(body["data"]["actor"]["email"], "owner@acme.test");
        assert_eq!(body["data"]["source_ip"], "127.0.0.1");
        for s in &secrets {
            assert!(
                !String::from_utf8_lossy(&p.body).contains(s.as_str()),
                "a key secret is in a webhook"
            );
        }
    }
    let updated = posts
        .iter()
        .map(Post::json)
        .find(|b| b["name"] == "scoped_key.updated")
        .unwrap();
    assert_eq!(updated["data"]["key_name"], "billing-sync");
    assert_eq!(
        updated["data"]["scope"]["before"]["account_permissions"]["accounts"][0],
        org.accounts[0].as_str()
    );
    assert_eq!(
        updated["data"]["scope"]["after"]["account_permissions"]["accounts"],
        "all"
    );
    assert_eq!(updated["account_id"], Value::Null);
    let created = posts
        .iter()
        .map(Post::json)
        .find(|b| b["name"] == "scoped_key.created")
        .unwrap();
    assert_eq!(created["account_id"], org.accounts[0].as_str());

    let deletes = only_deletes.wait_until(10, |p| !p.is_empty()).await;
    // Each post is a delivery written with its event: the webhook has one.
    let only_id = only["webhook_id"].as_str().unwrap();
    assert_eq!(deliveries(&app, &org, only_id).await.len(), 1);
    assert_eq!(only_deletes.posts().len(), 1, "only the subscribed event");
    assert_eq!(deletes[0].json()["name"], "scoped_key.deleted");
}

/// A scoped-key body with one org-level permission.
fn named(name: &str) -> Value {
    json!({"name": name, "org_permissions": perms(&[("billing_invoices", "read")])})
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub async fn deliveries(app: &TestApp, org: &Org, webhook_id: &str) -> Vec<Value> {
    let r = app
        .req(
            Method::GET,
            &format!(
                "/dev/v1/orgs/{}/webhooks/{webhook_id}/deliveries",
                org.org_id
            ),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["deliveries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn without_an_smtp_server_mails_are_written_as_eml_files_in_the_data_dir() {
    let app = spawn_app().await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    app.scoped_key(&org, named("to-a-file")).await;
    assert!(app.wait_for_log("mail written", 10).await);
    let dir = app.data_dir.join("mail");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].extension().unwrap() == "eml");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        text.contains("Subject: Scoped API key 'to-a-file' was created"),
        "{text}"
    );
    assert!(text.contains("To: owner@acme.test"));
}

#[tokio::test]
async fn demo_mode_allows_insecure_webhooks_and_says_so() {
    let app = spawn_app_with(&["--demo"], &[]).await;
    assert!(app.wait_for_log("insecure webhooks allowed", 10).await);
}

mod durability;
mod retries;
mod webhook_urls;
