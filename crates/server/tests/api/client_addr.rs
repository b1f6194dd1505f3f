//! The client's address behind trusted proxies (issue 17, item 1): one
//! decision for every surface, walked from the right of `X-Forwarded-For`, and
//! a request whose address cannot be read is refused, never charged to the
//! proxy.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::gateway::echo_upstream;
use crate::helpers::*;

const INTROSPECTION: &str = "introspection-secret-for-tests";

/// `X-Forwarded-For` values whose client entry is not a plain address.
const BAD: &[&str] = &[
    "x",
    "unknown",
    "1.2.3.4:80",
    "",
    "[2001:db8::1]:443",
    "198.51.100.7, _hidden",
    "198.51.100.7,",
    "for=198.51.100.7",
];

/// A client whose connections come from `source` (any 127.0.0.0/8 address
/// works on Linux loopback).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn with_xff(mut rb: reqwest::RequestBuilder, xff: &[&str]) -> reqwest::RequestBuilder {
    for v in xff {
        rb = rb.header("x-forwarded-for", *v);
    }
    rb
}

fn refused_for_the_address(r: &Resp, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.body);
    assert_eq!(r.code(), "validation_error", "{what}: {}", r.body);
    assert_eq!(r.body["source"], "x-forwarded-for", "{what}: {}", r.body);
}

/// The audit events with `action` once there are `n`, waiting up to 10 s for
/// background writes.
async fn audit_events(app: &TestApp, org: &Org, action: &str, n: usize) -> Vec<Value> {
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
        if found.len() >= n {
            Ok(found)
        } else {
            Err(found)
        }
    })
    .await
    .unwrap_or_else(|found| found)
}

/// The key's `last_used_ip` once it is `want`, or what it is after 10 s.
async fn last_used_ip(app: &TestApp, org: &Org, client_id: &str, want: &str) -> Value {
    poll(Duration::from_secs(10), async || {
        let ip = app.get_scoped_key(org, client_id).await["last_used_ip"].clone();
        if ip == want { Ok(ip) } else { Err(ip) }
    })
    .await
    .unwrap_or_else(|ip| ip)
}

#[tokio::test]
async fn an_unreadable_forwarded_address_is_refused_on_every_surface() {
    let up = echo_upstream().await;
    let upstream = format!("http://{up}");
    let app = spawn_app_with(
        &[
            "--trusted-proxy",
            "127.0.0.1",
            "--upstream",
            &upstream,
            "--introspection-secret",
            INTROSPECTION,
        ],
        &[],
    )
    .await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = app
        .scoped_key(&org, json!({"name": "r", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let token = app.token(&key, Some(&org.accounts[0])).await;
    let base = &app.base;
    let http = &app.http;
    let api = "/api/v1/balances/current";
    for bad in BAD {
        let xff = [*bad];
        let json_surfaces: Vec<(&str, reqwest::RequestBuilder)> = vec![
            (
                "login",
                http.post(format!("{base}/api/v1/authentication/login"))
                    .header("x-client-id", cid(&key))
                    .header("x-api-key", secret(&key))
                    .header("x-login-as", org.accounts[0].as_str()),
            ),
            (
                "gateway",
                http.get(format!("{base}{api}")).bearer_auth(&token),
            ),
            (
                "/auth/verify",
                http.get(format!("{base}/auth/verify"))
                    .bearer_auth(&token)
                    .header("x-original-method", "GET")
                    .header("x-original-uri", api),
            ),
            (
                "/auth/nginx",
                http.get(format!("{base}/auth/nginx"))
                    .bearer_auth(&token)
                    .header("x-original-method", "GET")
                    .header("x-original-uri", api),
            ),
            (
                "/auth/traefik",
                http.get(format!("{base}/auth/traefik"))
                    .bearer_auth(&token)
                    .header("x-forwarded-method", "GET")
                    .header("x-forwarded-uri", api),
            ),
            (
                "/auth/envoy",
                http.get(format!("{base}/auth/envoy{api}"))
                    .bearer_auth(&token),
            ),
            (
                "introspection",
                http.post(format!("{base}/oauth/introspect"))
                    .basic_auth("rs", Some(INTROSPECTION))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("token={token}")),
            ),
            (
                "sign-in",
                http.post(format!("{base}/dev/v1/sessions"))
                    .json(&json!({"email": "owner@acme.test", "password": PASSWORD})),
            ),
            (
                "signed in",
                http.get(format!("{base}/dev/v1/me"))
                    .bearer_auth(&org.owner.token),
            ),
            (
                "password reset",
                http.post(format!("{base}/dev/v1/password-resets"))
                    .json(&json!({"email": "owner@acme.test"})),
            ),
        ];
        for (what, rb) in json_surfaces {
            let r = app.send(with_xff(rb, &xff)).await;
            refused_for_the_address(&r, &format!("{what} with {bad:?}"));
        }
        // The Developer app: a page that says so, signed in or not.
        let cookie = format!("keygate_session={}", org.owner.token);
        for (what, rb) in [
            (
                "app page",
                http.get(format!("{base}/app/security"))
                    .header("cookie", &cookie),
            ),
            (
                "app sign-in",
                http.post(format!("{base}/app/sign-in"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("email=owner%40acme.test&password=x&csrf=x"),
            ),
        ] {
            let r = with_xff(rb, &xff).send().await.unwrap();
            assert_eq!(r.status(), 400, "{what} with {bad:?}");
            assert!(
                r.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html"),
                "{what}"
            );
            let page = r.text().await.unwrap();
            assert!(page.contains("X-Forwarded-For"), "{what}: {page}");
        }
    }
    // Several headers are one list: a bad entry in the last one is refused.
    let r = app
        .send(with_xff(
            http.get(format!("{base}{api}")).bearer_auth(&token),
            &["198.51.100.7", "unknown"],
        ))
        .await;
    refused_for_the_address(&r, "two headers");

    // A readable one passes everywhere, and the message says what was wrong.
    let ok = app
        .send(with_xff(
            http.get(format!("{base}{api}")).bearer_auth(&token),
            &["unknown, 198.51.100.7"],
        ))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let r = app
        .send(with_xff(
            http.get(format!("{base}{api}")).bearer_auth(&token),
            &["1.2.3.4:80"],
        ))
        .await;
    let message = r.body["message"].as_str().unwrap();
    assert!(message.contains("\"1.2.3.4:80\""), "{message}");
}

#[tokio::test]
async fn an_allowlist_of_the_proxys_network_is_not_opened_by_a_bad_forwarded_address() {
    // The reported attack: a key allowed only from the load balancer's
    // network logged in from anywhere with `X-Forwarded-For: x`, and its
    // token passed the gateway with `1.2.3.4:80`.
    let up = echo_upstream().await;
    let upstream = format!("http://{up}");
    let app = spawn_app_with(
        &["--trusted-proxy", "127.0.0.3", "--upstream", &upstream],
        &[],
    )
    .await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/scoped-keys", org.org_id),
            Some(&org.owner),
            Some(json!({"name": "lb only", "allowed_networks": ["127.0.0.0/24"], "password": PASSWORD,
                        "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.body;
    let lb = client_from("127.0.0.3");
    let login = |xff: &'static str| {
        app.send(
            lb.post(format!("{}/api/v1/authentication/login", app.base))
                .header("x-client-id", cid(&key))
                .header("x-api-key", secret(&key))
                .header("x-login-as", org.accounts[0].as_str())
                .header("x-forwarded-for", xff),
        )
    };
    for bad in ["x", "unknown", "1.2.3.4:80"] {
        refused_for_the_address(&login(bad).await, bad);
    }
    assert_eq!(login("203.0.113.9").await.status, 401);
    // From the proxy's network itself (a client there), the key works.
    let ok = login("127.0.0.9").await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    let token = ok.body["token"].as_str().unwrap().to_owned();
    let call = |xff: &'static str| {
        app.send(
            lb.get(format!("{}/api/v1/balances/current", app.base))
                .bearer_auth(&token)
                .header("x-forwarded-for", xff),
        )
    };
    for bad in ["x", "unknown", "1.2.3.4:80"] {
        refused_for_the_address(&call(bad).await, bad);
    }
    assert_eq!(call("203.0.113.9").await.status, 403);
    assert_eq!(call("127.0.0.9").await.status, 200);
}

#[tokio::test]
async fn failed_sign_ins_with_an_unreadable_address_are_not_charged_to_the_proxy() {
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.1"], &[]).await;
    app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    // More than the per-address limit of failed sign-ins (50 in 5 minutes),
    // each for another email so that no per-email limit is reached.
    for i in 0..55 {
        let r = app
            .send(
                app.http
                    .post(format!("{}/dev/v1/sessions", app.base))
                    .header("x-forwarded-for", "unknown")
                    .json(&json!({"email": format!("nobody{i}@acme.test"), "password": "wrong-password-1234"})),
            )
            .await;
        refused_for_the_address(&r, &format!("attempt {i}"));
    }
    // Nothing was counted against the proxy's own address.
    let r = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "owner@acme.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

mod proxies;
