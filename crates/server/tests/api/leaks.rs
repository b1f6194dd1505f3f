//! Leaked-key intake: GitHub secret scanning reports signed with a P-256 key
//! made here, GitLab token revocation with a bearer token, the organization's
//! `on_leak` choice, and what owners and admins are told (where, never the
//! secret). GitLab's flow with `on_leak = notify` is in `leaks/gitlab.rs`.

use std::time::{Duration, Instant};

use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;

use crate::helpers::*;
use crate::notify::add_member_by_smtp;
use crate::receivers::*;

const KEY_ID: &str = "kid-test-1";
const GITLAB_TOKEN: &str = "gl-revocation-0123456789abcdef";

/// A P-256 key for this test run, and GitHub's key file naming its public half.
fn github_key(dir: &std::path::Path) -> (SigningKey, std::path::PathBuf) {
    let seed = format!("{:?}{}", Instant::now(), std::process::id());
    let key = SigningKey::from_slice(&sha2::Sha256::digest(seed.as_bytes())).unwrap();
    let pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let file = dir.join("github-keys.json");
    let other = SigningKey::from_slice(&sha2::Sha256::digest(b"another key")).unwrap();
    let other_pem = other
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    std::fs::write(
        &file,
        json!({"public_keys": [
            {"key_identifier": "kid-old", "key": other_pem, "is_current": false},
            {"key_identifier": KEY_ID, "key": pem, "is_current": true},
        ]})
        .to_string(),
    )
    .unwrap();
    (key, file)
}

fn sign(key: &SigningKey, body: &[u8]) -> String {
    let sig: Signature = key.sign(body);
    base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes())
}

/// POSTs a GitHub report; the answer echoes the reported tokens (GitHub's
/// format), so it is read here rather than through `TestApp::send`, which
/// refuses any answer repeating a secret.
async fn github(app: &TestApp, body: &[u8], key_id: &str, signature: &str) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(format!("{}/secret-scanning/github", app.base))
        .header("content-type", "application/json")
        .header("github-public-key-identifier", key_id)
        .header("github-public-key-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn gitlab(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> Resp {
    let mut rb = app
        .http
        .request(
            method,
            format!("{}/secret-scanning/gitlab/v1/{path}", app.base),
        )
        .bearer_auth(bearer);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    app.send(rb).await
}

/// A mail's text with quoted-printable soft breaks and `=3D` undone.
fn plain(m: &Mail) -> String {
    m.data
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

async fn exposed_events(app: &TestApp, org: &Org) -> Vec<Value> {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/audit-events", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.body["events"]
        .as_array()
        .or(r.body.as_array())
        .cloned()
        .unwrap_or_default();
    list.into_iter()
        .filter(|e| e["action"] == "api_key.exposed")
        .collect()
}

async fn scoped(app: &TestApp, org: &Org, name: &str) -> Value {
    app.scoped_key(
        org,
        json!({"name": name, "account_permissions": {"accounts": [org.accounts[0]],
               "resources": perms(&[("balances", "read")])}}),
    )
    .await
}

async fn add_hook(app: &TestApp, org: &Org, url: &str) {
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/webhooks", org.org_id),
            Some(&org.owner),
            Some(json!({"url": url, "events": ["api_key.exposed"], "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "webhook: {}", r.body);
}

#[tokio::test]
async fn a_signed_github_report_revokes_a_live_key_and_tells_owners_and_admins_where() {
    let smtp = SmtpServer::start().await;
    let hooks = WebhookReceiver::start().await;
    let dir = temp_dir();
    let (gh, keys_file) = github_key(&dir);
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = spawn_app_with(
        &[
            "--github-scanning-keys",
            keys_file.to_str().unwrap(),
            "--smtp-url",
            &smtp_url,
            "--allow-insecure-webhooks",
        ],
        &[("KEYGATE_RETRY_BASE_MS", "200")],
    )
    .await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    add_member_by_smtp(&app, &smtp, &org, "admin@acme.test", "admin").await;
    add_member_by_smtp(&app, &smtp, &org, "dev@acme.test", "developer").await;
    add_hook(&app, &org, &hooks.url()).await;
    let leaky = scoped(&app, &org, "leaky").await;
    let admin = app.admin_key(&org, &org.org_id).await;
    let bystander = scoped(&app, &org, "bystander").await;
    let where_ = "https://github.com/acme/app/blob/main/config/settings.txt";
    let body = serde_json::to_vec(&json!([
        {"token": secret(&leaky), "type": "keygate_api_key", "url": where_, "source": "content"},
        {"token": "kg_live_notarealkey000000000000000000000", "type": "keygate_api_key",
         "url": "https://github.com/acme/app/blob/main/x.txt", "source": "content"},
        {"token": secret(&admin), "type": "keygate_api_key", "url": where_, "source": "commit"},
        {"token": "ghp_not_ours", "type": "keygate_api_key"},
    ]))
    .unwrap();

    // Anything but the right signature by a listed key: 401, nothing done.
    let good = sign(&gh, &body);
    let tampered = [&body[..], b" "].concat();
    for (key_id, sig, why) in [
        (KEY_ID, sign(&gh, &tampered), "signature of other bytes"),
        ("kid-old", good.clone(), "signed by another listed key"),
        ("kid-unknown", good.clone(), "unknown key id"),
        (KEY_ID, "not base64!".to_owned(), "garbage signature"),
        (KEY_ID, String::new(), "empty signature"),
    ] {
        let (st, b) = github(&app, &body, key_id, &sig).await;
        assert_eq!(st, 401, "{why}: {b}");
        assert_eq!(b["code"], "unauthorized", "{why}");
    }
    let r = app
        .send(
            app.http
                .post(format!("{}/secret-scanning/github", app.base))
                .body(body.clone()),
        )
        .await;
    assert_eq!(r.status, 401, "no signature headers");
    app.token(&leaky, Some(&org.accounts[0])).await;
    assert!(exposed_events(&app, &org).await.is_empty());

    // The signed report: labels in order, the live keys revoked at once.
    let (st, labels) = github(&app, &body, KEY_ID, &good).await;
    assert_eq!(st, 200, "{labels}");
    let labels: Vec<(&str, &str)> = labels
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["token_type"], "keygate_api_key");
            (
                l["token_raw"].as_str().unwrap(),
                l["label"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        labels,
        vec![
            (secret(&leaky), "true_positive"),
            ("kg_live_notarealkey000000000000000000000", "false_positive"),
            (secret(&admin), "true_positive"),
            ("ghp_not_ours", "false_positive"),
        ]
    );
    let r = app
        .login(cid(&leaky), secret(&leaky), Some(&org.accounts[0]))
        .await;
    assert_eq!(r.status, 401, "the leaked scoped key is revoked");
    let r = app.login(cid(&admin), secret(&admin), None).await;
    assert_eq!(r.status, 401, "the leaked admin key is revoked");
    app.token(&bystander, Some(&org.accounts[0])).await;
    let list = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/api-keys", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    let listed = list.body.to_string();
    assert!(!listed.contains(cid(&leaky)) && !listed.contains(cid(&admin)));
    assert!(listed.contains(cid(&bystander)));

    // One audit event per key, with where it was found and never the secret.
    let events = exposed_events(&app, &org).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let scoped_event = events
        .iter()
        .find(|e| e["client_id"] == cid(&leaky))
        .unwrap();
    let x = &scoped_event["details"]["exposure"];
    assert_eq!(x["reported_by"], "github");
    assert_eq!(x["location"], where_);
    assert_eq!(x["source"], "content");
    assert_eq!(x["action"], "revoked");
    let all = json!(events).to_string();
    assert!(!all.contains(secret(&leaky)) && !all.contains(secret(&admin)));

    // Mail to the owner and the admin (not the developer), and the webhook.
    let is_leak = |m: &Mail| plain(m).contains("config/settings.txt");
    let mails = smtp
        .wait_until(20, |ms| ms.iter().filter(|m| is_leak(m)).count() >= 4)
        .await;
    let leak_mails: Vec<&Mail> = mails.iter().filter(|m| is_leak(m)).collect();
    let mut to: Vec<String> = leak_mails.iter().map(|m| m.to.join(",")).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 2, "{to:?}");
    assert!(to.iter().any(|t| t.contains("owner@acme.test")));
    assert!(to.iter().any(|t| t.contains("admin@acme.test")));
    let m = leak_mails
        .iter()
        .find(|m| plain(m).contains("'leaky'"))
        .unwrap();
    let text = plain(m);
    assert!(text.contains("found leaked and revoked"), "{text}");
    assert!(text.contains("GitHub secret scanning"), "{text}");
    for m in &mails {
        let t = plain(m);
        assert!(!t.contains(secret(&leaky)) && !t.contains(secret(&admin)));
    }
    let posts = hooks
        .wait_until(20, |p| p.iter().filter(|p| p.answered == 200).count() >= 2)
        .await;
    let post = posts
        .iter()
        .map(Post::json)
        .find(|p| p["data"]["client_id"] == cid(&leaky))
        .unwrap();
    assert_eq!(post["name"], "api_key.exposed");
    assert_eq!(post["data"]["key_name"], "leaky");
    assert_eq!(post["data"]["exposure"]["location"], where_);
    assert_eq!(post["data"]["exposure"]["action"], "revoked");
    for p in &posts {
        let b = String::from_utf8_lossy(&p.body);
        assert!(!b.contains(secret(&leaky)) && !b.contains(secret(&admin)));
    }

    // The same report again: 200, the keys are gone (false positives now),
    // and no second event.
    let (st, again) = github(&app, &body, KEY_ID, &good).await;
    assert_eq!(st, 200, "{again}");
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["label"] == "false_positive")
    );
    assert_eq!(exposed_events(&app, &org).await.len(), 2);

    // Signed but not the documented JSON: 400.
    for bad in [&b"{\"token\": 1}"[..], b"not json", b"[{\"type\": \"x\"}]"] {
        let (st, b) = github(&app, bad, KEY_ID, &sign(&gh, bad)).await;
        assert_eq!(st, 400, "{}: {b}", String::from_utf8_lossy(bad));
    }
    assert!(!app.log().contains(secret(&bystander)));
}

#[tokio::test]
async fn the_intake_is_off_without_its_settings_and_limited_per_address() {
    let app = spawn_app().await;
    let r = app
        .send(
            app.http
                .post(format!("{}/secret-scanning/github", app.base))
                .header("github-public-key-identifier", KEY_ID)
                .header("github-public-key-signature", "x")
                .body("[]"),
        )
        .await;
    assert_eq!(r.status, 404);
    for (method, path) in [
        (Method::GET, "revocable_token_types"),
        (Method::POST, "revoke_tokens"),
    ] {
        let r = gitlab(&app, method, path, GITLAB_TOKEN, Some(json!([]))).await;
        assert_eq!(r.status, 404, "{path}");
    }
    drop(app);

    let app = spawn_app_with(&["--gitlab-revocation-token", GITLAB_TOKEN], &[]).await;
    let started = Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..60 {
        statuses.push(
            gitlab(&app, Method::GET, "revocable_token_types", "guess", None)
                .await
                .status,
        );
    }
    assert!(statuses.iter().all(|s| *s == 401));
    let r = gitlab(
        &app,
        Method::GET,
        "revocable_token_types",
        GITLAB_TOKEN,
        None,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the window is a minute"
    );
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
}

/// A leaked secret that a regenerate replaced but whose grace period still
/// runs dies at once, whatever `on_leak` says (set here through the key
/// policy to `notify`); the key and its new secret keep working, and the
/// report is a true positive once, then nothing more is done.
#[tokio::test]
async fn a_leaked_previous_secret_ends_its_grace_at_once_and_on_leak_is_set_through_the_key_policy()
{
    let app = spawn_app_with(&[], &[("KEYGATE_GITLAB_REVOCATION_TOKEN", GITLAB_TOKEN)]).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    let policy = format!("/dev/v1/orgs/{}/key-policy", org.org_id);
    let r = app.req(Method::GET, &policy, Some(&org.owner), None).await;
    assert_eq!(
        (r.status.as_u16(), &r.body["on_leak"]),
        (200, &json!("revoke"))
    );
    let r = app
        .req(
            Method::PATCH,
            &policy,
            Some(&org.owner),
            Some(json!({"on_leak": "delete", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["source"], "on_leak", "{}", r.body);
    let r = app
        .req(
            Method::PATCH,
            &policy,
            Some(&org.owner),
            Some(json!({"on_leak": "notify", "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), &r.body["on_leak"]),
        (200, &json!("notify")),
        "{}",
        r.body
    );

    let k = scoped(&app, &org, "rotated").await;
    let client_id = k["client_id"].as_str().unwrap();
    let old = secret(&k);
    let r = app
        .req(
            Method::POST,
            &format!(
                "/dev/v1/orgs/{}/scoped-keys/{client_id}/regenerate",
                org.org_id
            ),
            Some(&org.owner),
            Some(json!({"password": PASSWORD, "previous_secret_expires_in": 3600})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new = r.body["api_key"].as_str().unwrap().to_owned();
    app.remember(&new);
    let acct = Some(org.accounts[0].as_str());
    assert_eq!(app.login(client_id, old, acct).await.status, 201, "grace");

    let report = json!([{"type": "keygate_api_key", "token": old,
                         "location": "https://gitlab.example/p/-/blob/main/old.env"}]);
    let r = gitlab(
        &app,
        Method::POST,
        "revoke_tokens",
        GITLAB_TOKEN,
        Some(report.clone()),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        app.login(client_id, old, acct).await.status,
        401,
        "old secret revoked"
    );
    assert_eq!(
        app.login(client_id, &new, acct).await.status,
        201,
        "new secret works"
    );
    let events = exposed_events(&app, &org).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["details"]["exposure"]["action"],
        "previous_secret_revoked"
    );
    let shown = app.get_scoped_key(&org, client_id).await;
    assert_eq!(shown["previous_secret_expires_at"], Value::Null);
    assert_eq!(
        shown["exposed_at"],
        Value::Null,
        "the current secret is not exposed"
    );

    // Reported again: the old secret is no live key any more; nothing is done.
    let r = gitlab(
        &app,
        Method::POST,
        "revoke_tokens",
        GITLAB_TOKEN,
        Some(report),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(exposed_events(&app, &org).await.len(), 1);
    assert_eq!(app.login(client_id, &new, acct).await.status, 201);
}

mod gitlab;
