//! Key lifecycle, issue 13 §4 and §5: network allowlists per key (a second
//! loopback address, 127.0.0.2, is "elsewhere") and organization key
//! policies (in `allowlists/key_policy.rs`), through the real HTTP API.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Org, PASSWORD, TestApp, cid, perms, poll, secret, spawn_app, spawn_app_with};

const INSIDE: &str = "127.0.0.2";
const OUTSIDE: &str = "127.0.0.1";

/// A client whose connections come from `source` (any 127.0.0.0/8 address
/// works on Linux loopback).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn login_from(app: &TestApp, source: &str, key: &Value, login_as: Option<&str>) -> Resp2 {
    let mut rb = client_from(source)
        .post(format!("{}/api/v1/authentication/login", app.base))
        .header("x-client-id", cid(key))
        .header("x-api-key", secret(key));
    if let Some(a) = login_as {
        rb = rb.header("x-login-as", a);
    }
    send(rb).await
}

/// Forward-auth (`/auth/verify`, nginx headers) from `source`.
async fn verify_from(app: &TestApp, source: &str, token: &str, extra: &[(&str, &str)]) -> Resp2 {
    let mut rb = client_from(source)
        .get(format!("{}/auth/verify", app.base))
        .bearer_auth(token)
        .header("x-original-method", "GET")
        .header("x-original-uri", "/api/v1/balances/current");
    for (k, v) in extra {
        rb = rb.header(*k, *v);
    }
    send(rb).await
}

struct Resp2 {
    status: StatusCode,
    text: String,
}

impl Resp2 {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn send(rb: reqwest::RequestBuilder) -> Resp2 {
    let r = rb.send().await.expect("request");
    Resp2 {
        status: r.status(),
        text: r.text().await.unwrap(),
    }
}

fn balances_reader(org: &Org, name: &str, extra: Value) -> Value {
    let mut body = json!({
        "name": name,
        "account_permissions": {"accounts": [org.accounts[0]], "resources": perms(&[("balances", "read")])},
        "password": PASSWORD,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn create(app: &TestApp, org: &Org, name: &str, extra: Value) -> crate::helpers::Resp {
    app.req(
        Method::POST,
        &format!("/dev/v1/orgs/{}/scoped-keys", org.org_id),
        Some(&org.owner),
        Some(balances_reader(org, name, extra)),
    )
    .await
}

/// The audit events with `action`, waiting up to 10 s for background writes.
async fn audit_events(app: &TestApp, org: &Org, action: &str) -> Vec<Value> {
    poll(Duration::from_secs(10), async || {
        let r = app
            .req(
                Method::GET,
                &format!("/dev/v1/orgs/{}/audit-events", org.org_id),
                Some(&org.owner),
                None,
            )
            .await;
        let found: Vec<Value> = r.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect();
        if found.is_empty() {
            Err(found)
        } else {
            Ok(found)
        }
    })
    .await
    .unwrap_or_else(|none| none)
}

#[tokio::test]
async fn a_key_with_an_allowlist_logs_in_and_its_tokens_work_only_from_inside() {
    let app = spawn_app_with(&["--introspection-secret", "introspect-0123456789"], &[]).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    let r = create(
        &app,
        &org,
        "office only",
        json!({"allowed_networks": ["127.0.0.2"]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["allowed_networks"],
        json!(["127.0.0.2/32"]),
        "a bare address is a /32"
    );
    let key = r.body;
    let acct = Some(org.accounts[0].as_str());

    // From elsewhere: exactly the answer of a wrong key, and an audit event with the source.
    let outside = login_from(&app, OUTSIDE, &key, acct).await;
    let mut wrong = key.clone();
    wrong["api_key"] = format!("{}x", secret(&key)).into();
    let wrong = login_from(&app, INSIDE, &wrong, acct).await;
    assert_eq!(outside.status, 401);
    assert_eq!(outside.text, wrong.text, "the same body as a wrong key");
    let refused = audit_events(&app, &org, "login.network_refused").await;
    assert_eq!(refused.len(), 1, "one event for the refused login");
    assert_eq!(refused[0]["source_ip"], OUTSIDE);
    assert_eq!(refused[0]["client_id"], cid(&key));

    let inside = login_from(&app, INSIDE, &key, acct).await;
    assert_eq!(inside.status, 201, "{}", inside.text);
    let token = inside.json()["token"].as_str().unwrap().to_owned();
    app.remember(&token);

    // The token: 403 from elsewhere at forward-auth and the gateway, 200 inside.
    let v = verify_from(&app, OUTSIDE, &token, &[]).await;
    assert_eq!(v.status, 403, "{}", v.text);
    assert_eq!(v.json()["code"], "forbidden");
    assert_eq!(verify_from(&app, INSIDE, &token, &[]).await.status, 200);
    for path in [
        "/auth/envoy/api/v1/balances/current",
        "/api/v1/balances/current",
    ] {
        let r = send(
            client_from(OUTSIDE)
                .get(format!("{}{path}", app.base))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
        let r = send(
            client_from(INSIDE)
                .get(format!("{}{path}", app.base))
                .bearer_auth(&token),
        )
        .await;
        // The gateway has no upstream here: past the check, 502.
        assert!(
            r.status == 200 || r.status == 502,
            "{path}: {} {}",
            r.status,
            r.text
        );
    }
    // X-Forwarded-For from a peer that is not a trusted proxy is not believed.
    let v = verify_from(&app, OUTSIDE, &token, &[("x-forwarded-for", INSIDE)]).await;
    assert_eq!(v.status, 403);

    // Introspection reports the networks, to whoever asks.
    let r = send(
        client_from(OUTSIDE)
            .post(format!("{}/oauth/introspect", app.base))
            .basic_auth("rs", Some("introspect-0123456789"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}")),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["active"], true);
    assert_eq!(r.json()["allowed_networks"], json!(["127.0.0.2/32"]));

    // An edit to anywhere applies at once, to the token already issued too.
    let r = app
        .req(
            Method::PATCH,
            &format!("/dev/v1/orgs/{}/scoped-keys/{}", org.org_id, cid(&key)),
            Some(&org.owner),
            Some(json!({"allowed_networks": [], "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["allowed_networks"], json!([]));
    assert_eq!(verify_from(&app, OUTSIDE, &token, &[]).await.status, 200);
    assert_eq!(login_from(&app, OUTSIDE, &key, acct).await.status, 201);
    let updated = audit_events(&app, &org, "scoped_key.updated").await;
    assert_eq!(
        updated[0]["details"]["allowed_networks"],
        json!({"before": ["127.0.0.2/32"], "after": []})
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_address_counts() {
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.3"], &[]).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    let r = create(
        &app,
        &org,
        "k",
        json!({"allowed_networks": ["198.51.100.0/24"]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.body;
    let acct = Some(org.accounts[0].as_str());
    let proxied = |ip: &'static str| {
        client_from("127.0.0.3")
            .post(format!("{}/api/v1/authentication/login", app.base))
            .header("x-client-id", cid(&key))
            .header("x-api-key", secret(&key))
            .header("x-login-as", org.accounts[0].as_str())
            .header("x-forwarded-for", ip)
    };
    assert_eq!(send(proxied("203.0.113.9")).await.status, 401);
    let ok = send(proxied("198.51.100.20")).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    let token = ok.json()["token"].as_str().unwrap().to_owned();
    app.remember(&token);
    let fwd = [("x-forwarded-for", "198.51.100.20")];
    assert_eq!(
        verify_from(&app, "127.0.0.3", &token, &fwd).await.status,
        200
    );
    let fwd = [("x-forwarded-for", "203.0.113.9")];
    assert_eq!(
        verify_from(&app, "127.0.0.3", &token, &fwd).await.status,
        403
    );
    // Directly, from an address not in the list, with a forged header: refused.
    let fwd = [("x-forwarded-for", "198.51.100.20")];
    assert_eq!(verify_from(&app, INSIDE, &token, &fwd).await.status, 403);
    assert_eq!(login_from(&app, INSIDE, &key, acct).await.status, 401);
}

#[tokio::test]
async fn admin_keys_take_an_allowlist_when_generated_and_regenerated() {
    let app = spawn_app().await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/admin-keys", org.org_id),
            Some(&org.owner),
            Some(json!({"owner_id": org.org_id, "allowed_networks": ["127.0.0.2/32", "2001:DB8::/32"],
                        "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["allowed_networks"],
        json!(["127.0.0.2/32", "2001:db8::/32"])
    );
    let key = r.body;
    assert_eq!(login_from(&app, OUTSIDE, &key, None).await.status, 401);
    assert_eq!(login_from(&app, INSIDE, &key, None).await.status, 201);
    let url = format!(
        "/dev/v1/orgs/{}/admin-keys/{}/regenerate",
        org.org_id,
        cid(&key)
    );
    let regen = |body: Value| app.req(Method::POST, &url, Some(&org.owner), Some(body));
    // Absent: the allowlist stays.
    let r = regen(json!({"password": PASSWORD})).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["allowed_networks"],
        json!(["127.0.0.2/32", "2001:db8::/32"])
    );
    assert_eq!(login_from(&app, OUTSIDE, &r.body, None).await.status, 401);
    // A bad list changes nothing, not even the secret.
    let bad = regen(json!({"password": PASSWORD, "allowed_networks": ["10.0.0.0/33"]})).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["source"], "allowed_networks[0]");
    assert_eq!(login_from(&app, INSIDE, &r.body, None).await.status, 201);
    // `[]`: anywhere.
    let r = regen(json!({"password": PASSWORD, "allowed_networks": []})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["allowed_networks"], json!([]));
    assert_eq!(login_from(&app, OUTSIDE, &r.body, None).await.status, 201);
}

#[tokio::test]
async fn malformed_allowlists_are_refused_naming_the_entry() {
    let app = spawn_app().await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    let many: Vec<String> = (0..101).map(|i| format!("10.0.{i}.0/24")).collect();
    for (list, source, says) in [
        (
            json!(["300.1.2.3/8"]),
            "allowed_networks[0]",
            "not an IPv4 or IPv6 address",
        ),
        (
            json!(["10.0.0.0/8", "10.0.0.0/33"]),
            "allowed_networks[1]",
            "0 to 32",
        ),
        (json!(["10.0.0.7/8"]), "allowed_networks[0]", "10.0.0.0/8"),
        (
            json!(["::1", "::1/128"]),
            "allowed_networks[1]",
            "listed twice",
        ),
        (json!(many), "allowed_networks", "at most 100"),
        (json!("10.0.0.0/8"), "allowed_networks", ""),
    ] {
        let r = create(&app, &org, "bad", json!({"allowed_networks": list})).await;
        assert_eq!(r.status, 400, "{list}: {}", r.body);
        assert_eq!(r.code(), "validation_error");
        assert_eq!(r.body["source"], source, "{list}: {}", r.body);
        assert!(
            r.body["message"].as_str().unwrap().contains(says),
            "{}",
            r.body
        );
    }
    let keys = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/api-keys", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(keys.body["scoped_keys"], json!([]), "nothing half-written");
    let ok = create(
        &app,
        &org,
        "hundred",
        json!({"allowed_networks": many[..100]}),
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(ok.body["allowed_networks"].as_array().unwrap().len(), 100);
}

mod key_policy;
