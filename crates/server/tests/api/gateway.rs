//! The three ways a token protects an API: the built-in reverse proxy,
//! forward-auth (with a real nginx; the other proxies in `forward_auth`) and
//! introspection. Introspection and the nginx run are in `gateway/`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Request;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// A real upstream: answers with what it received; `/api/v1/balances/slow` takes 3 s.
pub async fn echo_upstream() -> SocketAddr {
    let app = axum::Router::new().fallback(|req: Request| async move {
        if req.uri().path().ends_with("/slow") {
            // Fixed: a slow upstream is what the tests of timeouts need.
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        let headers: serde_json::Map<String, Value> = parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    Value::String(v.to_str().unwrap_or("").to_owned()),
                )
            })
            .collect();
        axum::Json(json!({
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "query": parts.uri.query(),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        }))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

pub struct Gateway {
    pub app: TestApp,
    pub org: Org,
}

pub async fn gateway(extra: &[&str]) -> Gateway {
    let up = echo_upstream().await;
    let url = format!("http://{up}");
    let mut args = vec!["--upstream", url.as_str()];
    args.extend_from_slice(extra);
    let app = spawn_app_with(&args, &[]).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["HK", "UK"])
        .await;
    Gateway { app, org }
}

impl Gateway {
    async fn call(&self, method: Method, path: &str, token: Option<&str>) -> Resp {
        let mut rb = self
            .app
            .http
            .request(method, format!("{}{path}", self.app.base));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        self.app.send(rb).await
    }
}

#[tokio::test]
async fn allowed_requests_reach_the_upstream_with_identity_and_without_spoofed_headers() {
    let g = gateway(&[]).await;
    let (app, org) = (&g.app, &g.org);
    let sk = app
        .scoped_key(org, json!({"name": "r", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read"), ("payment_intents", "write")])}}))
        .await;
    let token = app.token(&sk, None).await;
    let r = app
        .send(
            app.http
                .post(format!("{}/api/v1/pa/payment_intents/create?x=1", app.base))
                .bearer_auth(&token)
                .header("x-keygate-account-id", &org.accounts[1])
                .header("x-keygate-org-id", "org_spoof")
                .header("x-on-behalf-of", "acct_someone")
                .json(&json!({"amount": 1})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["method"], "POST");
    assert_eq!(r.body["path"], "/api/v1/pa/payment_intents/create");
    assert_eq!(r.body["query"], "x=1");
    assert_eq!(r.body["body"], r#"{"amount":1}"#);
    let h = &r.body["headers"];
    assert_eq!(h["x-keygate-client-id"], cid(&sk));
    assert_eq!(h["x-keygate-org-id"], org.org_id.as_str());
    assert_eq!(h["x-keygate-account-id"], org.accounts[0].as_str());
    assert_eq!(h["x-on-behalf-of"], "acct_someone");
    assert!(
        h.get("authorization").is_none(),
        "the bearer token is not forwarded"
    );
}

#[tokio::test]
async fn read_keys_may_get_but_not_post_and_unmapped_paths_are_refused() {
    let g = gateway(&[]).await;
    let (app, org) = (&g.app, &g.org);
    let sk = app
        .scoped_key(org, json!({"name": "r", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let token = app.token(&sk, None).await;
    assert_eq!(
        g.call(Method::GET, "/api/v1/balances/current", Some(&token))
            .await
            .status,
        200
    );
    assert_eq!(
        g.call(Method::HEAD, "/api/v1/balances/current", Some(&token))
            .await
            .status,
        200
    );
    let r = g
        .call(Method::POST, "/api/v1/balances/current", Some(&token))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
    assert_eq!(
        g.call(Method::GET, "/api/v1/not_a_resource", Some(&token))
            .await
            .status,
        403
    );
    let r = g
        .call(Method::GET, "/api/v1/balances/../invoices/x", Some(&token))
        .await;
    assert!(
        r.status == 400 || r.status == 403 || r.status == 404,
        "{}",
        r.status
    );
    let r = g
        .call(Method::GET, "/api/v1/balances/a%2Fb", Some(&token))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_path"));
}

#[tokio::test]
async fn org_and_account_resources_follow_the_token_target() {
    let g = gateway(&[]).await;
    let (app, org) = (&g.app, &g.org);
    let (a, b) = (&org.accounts[0], &org.accounts[1]);
    let org_admin = app.admin_key(org, &org.org_id).await;
    let acct_admin = app.admin_key(org, a).await;
    let sk = app
        .scoped_key(org, json!({"name": "mixed", "org_permissions": perms(&[("billing_invoices", "read")]),
            "account_permissions": {"accounts": [a, b], "resources": perms(&[("balances", "read")])}}))
        .await;
    let sk_b_only = app
        .scoped_key(org, json!({"name": "b", "account_permissions": {"accounts": [b], "resources": perms(&[("payment_intents", "write")])}}))
        .await;
    let org_token = app.token(&org_admin, None).await;
    let acct_token = app.token(&acct_admin, None).await;
    let sk_org = app.token(&sk, None).await;
    let sk_a = app.token(&sk, Some(a)).await;
    let cases = [
        (&org_token, "/api/v1/invoices/1", 200),
        (&org_token, "/api/v1/balances/current", 403),
        (&acct_token, "/api/v1/balances/current", 200),
        (&acct_token, "/api/v1/pa/payment_intents/x", 200),
        (&acct_token, "/api/v1/invoices/1", 403),
        (&sk_org, "/api/v1/invoices/1", 200),
        (&sk_org, "/api/v1/balances/current", 403),
        (&sk_a, "/api/v1/invoices/1", 200),
        (&sk_a, "/api/v1/balances/current", 200),
        (&sk_a, "/api/v1/pa/payment_intents/x", 403),
    ];
    for (token, path, want) in cases {
        assert_eq!(
            g.call(Method::GET, path, Some(token)).await.status,
            want,
            "{path}"
        );
    }
    // A token for account A is refused by scope, not by path: the key has
    // payment_intents only on B, and a token for B works on the same path.
    let other = app.create_org("Other", "o@other.test", &["O"]).await;
    let _ = other;
    let b_token = app.token(&sk_b_only, None).await;
    let r = g
        .call(Method::GET, "/api/v1/pa/payment_intents/x", Some(&b_token))
        .await;
    assert_eq!(r.body["headers"]["x-keygate-account-id"], b.as_str());
    assert_eq!(
        app.login(cid(&sk_b_only), secret(&sk_b_only), Some(a))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn missing_malformed_forged_expired_and_foreign_tokens_get_401_with_www_authenticate() {
    let g = gateway(&["--token-ttl", "2"]).await;
    let (app, org) = (&g.app, &g.org);
    // Before this app's token: starting another app (on PostgreSQL with a
    // fresh database) can take longer than the one-second token lifetime.
    let foreign = {
        let other = spawn_app().await;
        let o = other.create_org("Other", "o@other.test", &["O"]).await;
        let k = other.admin_key(&o, &o.accounts[0]).await;
        other.token(&k, None).await
    };
    let key = app.admin_key(org, &org.accounts[0]).await;
    let token = app.token(&key, None).await;
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none_header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let mut forged_sig = parts[2].to_owned();
    forged_sig.replace_range(
        ..4,
        if forged_sig.starts_with("AAAA") {
            "BBBB"
        } else {
            "AAAA"
        },
    );
    let bad = [
        None,
        Some("not-a-token".to_owned()),
        Some(format!("{}.{}.{forged_sig}", parts[0], parts[1])),
        Some(format!("{none_header}.{}.", parts[1])),
        Some(foreign),
    ];
    for t in &bad {
        let r = g
            .call(Method::GET, "/api/v1/balances/current", t.as_deref())
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (401, "unauthorized"),
            "{t:?}"
        );
        assert_eq!(r.headers.get("www-authenticate").unwrap(), "Bearer");
    }
    // A fresh token works, and the same token is refused once it has expired.
    let token = app.token(&key, None).await;
    let ok = g
        .call(Method::GET, "/api/v1/balances/current", Some(&token))
        .await;
    assert_eq!(ok.status, 200);
    app.advance_clock(Duration::from_millis(2100)).await;
    let r = g
        .call(Method::GET, "/api/v1/balances/current", Some(&token))
        .await;
    assert_eq!(r.status, 401, "expired");
}

#[tokio::test]
async fn regenerate_edit_and_delete_bite_on_the_next_proxied_request() {
    let g = gateway(&[]).await;
    let (app, org) = (&g.app, &g.org);
    let a = &org.accounts[0];
    let base = format!("/dev/v1/orgs/{}/scoped-keys", org.org_id);
    let mk = || json!({"name": "k", "account_permissions": {"accounts": [a], "resources": perms(&[("balances", "write")])}});
    let k1 = app.scoped_key(org, mk()).await;
    let t1 = app.token(&k1, None).await;
    assert_eq!(
        g.call(Method::POST, "/api/v1/balances/x", Some(&t1))
            .await
            .status,
        200
    );
    app.req(Method::PATCH, &format!("{base}/{}", cid(&k1)), Some(&org.owner),
            Some(json!({"account_permissions": {"accounts": [a], "resources": perms(&[("balances", "read")])}, "password": PASSWORD}))).await;
    assert_eq!(
        g.call(Method::POST, "/api/v1/balances/x", Some(&t1))
            .await
            .status,
        403
    );
    assert_eq!(
        g.call(Method::GET, "/api/v1/balances/x", Some(&t1))
            .await
            .status,
        200
    );
    app.req(
        Method::POST,
        &format!("{base}/{}/regenerate", cid(&k1)),
        Some(&org.owner),
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(
        g.call(Method::GET, "/api/v1/balances/x", Some(&t1))
            .await
            .status,
        401
    );
    let k2 = app.scoped_key(org, mk()).await;
    let t2 = app.token(&k2, None).await;
    app.req(
        Method::DELETE,
        &format!("{base}/{}", cid(&k2)),
        Some(&org.owner),
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(
        g.call(Method::GET, "/api/v1/balances/x", Some(&t2))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn a_down_upstream_is_502_and_a_slow_one_504() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}");
    let app = spawn_app_with(&["--upstream", &url], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = app.admin_key(&org, &org.accounts[0]).await;
    let token = app.token(&key, None).await;
    let r = app
        .send(
            app.http
                .get(format!("{}/api/v1/balances/current", app.base))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (502, "bad_gateway"));

    let g = gateway(&["--upstream-timeout", "1"]).await;
    let key = g.app.admin_key(&g.org, &g.org.accounts[0]).await;
    let token = g.app.token(&key, None).await;
    let r = g
        .call(Method::GET, "/api/v1/balances/slow", Some(&token))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (504, "gateway_timeout"));
}

/// Servers such as WSGI/CGI stacks read `_` and `-` in header names alike, and
/// some honour method overrides: neither may come from the client.
#[tokio::test]
async fn spoofed_identity_and_method_override_headers_are_stripped_in_every_spelling() {
    let g = gateway(&[]).await;
    let (app, org) = (&g.app, &g.org);
    let sk = app
        .scoped_key(org, json!({"name": "r", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let token = app.token(&sk, None).await;
    let spoofed = [
        "x_keygate_account_id",
        "x-keygate_org-id",
        "X_Keygate-Client_Id",
        "x-keygate-role",
        "x_keygate_anything",
        "X-HTTP-Method-Override",
        "x_http_method_override",
        "X-HTTP-Method",
        "x_http_method",
        "X-Method-Override",
        "x_method_override",
    ];
    let mut rb = app
        .http
        .get(format!("{}/api/v1/balances/current", app.base))
        .bearer_auth(&token)
        .header("x-on-behalf-of", "acct_kept");
    for name in spoofed {
        let value = if name.contains("ethod") {
            "DELETE"
        } else {
            "acct_SPOOF"
        };
        rb = rb.header(name, value);
    }
    let r = app.send(rb).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["method"], "GET");
    let h = r.body["headers"].as_object().unwrap();
    let mut names: Vec<&str> = h.keys().map(String::as_str).collect();
    names.sort();
    for name in &names {
        let n = name.replace('_', "-");
        assert!(
            !n.contains("method") && (!n.starts_with("x-keygate-") || n == *name),
            "{name} reached the upstream: {names:?}"
        );
    }
    assert_eq!(h["x-keygate-account-id"], org.accounts[0].as_str());
    assert_eq!(h["x-keygate-org-id"], org.org_id.as_str());
    assert_eq!(h["x-keygate-client-id"], cid(&sk));
    assert_eq!(h["x-on-behalf-of"], "acct_kept");
    assert!(h.get("x-keygate-role").is_none());
    assert!(!r.body.to_string().contains("SPOOF"));
}

mod introspection;
mod nginx;
