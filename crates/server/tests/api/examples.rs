//! The shipped proxy examples. Each nginx config runs for real here, with a
//! client that forges `X-Forwarded-For` and `x-keygate-*` headers. Traefik and
//! Envoy are not in Debian, so they cannot run here: each YAML file is read
//! with a small block-YAML reader (enough for these files: mappings, `- `
//! lists, flow values kept as text) and Keygate is then asked exactly what
//! that proxy, so configured, would ask.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::gateway::echo_upstream;
use crate::helpers::*;

fn example(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../examples/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Block YAML flattened to `(dotted.key.path, value)`; list items add `[]`.
/// Panics on what it does not understand (tabs, odd indentation), so a broken
/// example fails the test.
fn flatten(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        assert!(!line.contains('\t'), "line {}: tab", n + 1);
        let mut indent = line.len() - body.len();
        assert_eq!(indent % 2, 0, "line {}: odd indentation", n + 1);
        let mut body = body;
        let mut item = false;
        if let Some(rest) = body.strip_prefix("- ") {
            item = true;
            body = rest;
        }
        stack.retain(|(i, _)| *i < indent);
        if item {
            let parent = stack.last().map(|(_, k)| k.clone()).unwrap_or_default();
            stack.push((indent, format!("{parent}[]")));
            indent += 2;
        }
        let unquote = |s: &str| s.trim().trim_matches('"').to_owned();
        let parent = stack.last().map(|(_, k)| k.clone()).unwrap_or_default();
        let join = |k: &str| {
            if parent.is_empty() {
                k.to_owned()
            } else {
                format!("{parent}.{k}")
            }
        };
        match body
            .split_once(": ")
            .or_else(|| body.strip_suffix(':').map(|k| (k, "")))
        {
            Some((k, v)) if !body.starts_with('{') => {
                let key = join(&unquote(k));
                if v.is_empty() {
                    stack.push((indent, key));
                } else {
                    out.push((key, unquote(v)));
                }
            }
            _ => out.push((parent, unquote(body))),
        }
    }
    out
}

fn values<'a>(flat: &'a [(String, String)], suffix: &str) -> Vec<&'a str> {
    flat.iter()
        .filter(|(k, _)| k.ends_with(suffix))
        .map(|(_, v)| v.as_str())
        .collect()
}

async fn reader(app: &TestApp) -> (Org, String) {
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let sk = app
        .scoped_key(&org, json!({"name": "x", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let token = app.token(&sk, None).await;
    (org, token)
}

#[tokio::test]
async fn the_traefik_example_asks_the_traefik_endpoint_and_passes_the_identity_on() {
    let flat = flatten(&example("traefik/keygate.yml"));
    let address = values(&flat, "middlewares.keygate-auth.forwardAuth.address");
    assert_eq!(address, ["http://127.0.0.1:8080/auth/traefik"]);
    // Every client header like Keygate's is stripped before Keygate's answer
    // is copied (an org-level token's answer has no account id to replace the
    // client's), underscore spellings too; the check gets the client's own
    // address, not one the client wrote.
    assert_eq!(
        values(&flat, "forwardAuth.authResponseHeadersRegex"),
        ["(?i)^x[-_]keygate[-_]"]
    );
    assert!(values(&flat, "forwardAuth.authResponseHeaders[]").is_empty());
    assert_eq!(values(&flat, "forwardAuth.trustForwardHeader"), ["false"]);
    assert!(values(&flat, "forwardedHeaders.insecure").is_empty());
    assert_eq!(
        values(&flat, "routers.api.middlewares"),
        [r#"["keygate-auth", "no-bearer"]"#]
    );

    // What Traefik sends to that address for GET/POST /api/v1/balances/current,
    // with the client's own headers (a spoofed X-Original-*) passed through.
    let app = spawn_app().await;
    let (org, token) = reader(&app).await;
    let url = address[0].replace("http://127.0.0.1:8080", &app.base);
    let forward = |method: &str| {
        app.send(
            app.http
                .get(&url)
                .bearer_auth(&token)
                .header("x-forwarded-method", method)
                .header("x-forwarded-uri", "/api/v1/balances/current")
                .header("x-original-method", "GET"),
        )
    };
    let ok = forward("GET").await;
    assert_eq!(ok.status, 200);
    for name in [
        "x-keygate-client-id",
        "x-keygate-org-id",
        "x-keygate-account-id",
    ] {
        assert!(ok.headers.contains_key(name), "{name}");
    }
    for name in ok.headers.keys() {
        if name.as_str().contains("keygate") {
            assert!(name.as_str().starts_with("x-keygate-"), "{name}");
        }
    }
    assert_eq!(ok.headers["x-keygate-account-id"], org.accounts[0].as_str());
    assert_eq!(forward("POST").await.status, 403);
}

#[tokio::test]
async fn the_envoy_example_asks_the_envoy_prefix_with_the_original_request() {
    let flat = flatten(&example("envoy/keygate.yaml"));
    let prefix = values(&flat, "http_service.path_prefix");
    assert_eq!(prefix, ["/auth/envoy"]);
    assert_eq!(
        values(&flat, "http_service.server_uri.cluster"),
        ["keygate"]
    );
    // Envoy appends the connection's address to X-Forwarded-For and passes
    // that header to the check: the rightmost entry is the real client.
    assert_eq!(
        values(
            &flat,
            "authorization_request.allowed_headers.patterns[].exact"
        ),
        ["authorization", "x-forwarded-for"]
    );
    assert_eq!(values(&flat, "typed_config.use_remote_address"), ["true"]);
    assert_eq!(
        values(&flat, "headers_with_underscores_action"),
        ["DROP_HEADER"]
    );
    // The client's own identity headers are removed before ext_authz runs.
    assert_eq!(
        values(&flat, "http_filters[].name"),
        [
            "envoy.filters.http.header_mutation",
            "envoy.filters.http.ext_authz",
            "envoy.filters.http.router"
        ]
    );
    let removed = values(&flat, "request_mutations[].remove");
    let upstream = values(
        &flat,
        "authorization_response.allowed_upstream_headers.patterns[].exact",
    );
    assert_eq!(
        upstream,
        [
            "x-keygate-client-id",
            "x-keygate-org-id",
            "x-keygate-account-id"
        ]
    );
    assert!(values(&flat, "clusters[].name").contains(&"keygate"));
    assert_eq!(values(&flat, "typed_config.failure_mode_allow"), ["false"]);

    // Envoy's check request: the original method, prefix + original path.
    let app = spawn_app().await;
    let (org, token) = reader(&app).await;
    let check = |m: Method| {
        app.send(
            app.http
                .request(
                    m,
                    format!("{}{}/api/v1/balances/current?x=1", app.base, prefix[0]),
                )
                .bearer_auth(&token),
        )
    };
    let ok = check(Method::GET).await;
    assert_eq!(ok.status, 200);
    for name in &upstream {
        assert!(ok.headers.contains_key(*name), "{name}");
        assert!(
            removed.contains(name),
            "{name} is not removed from the client's request"
        );
    }
    for name in ok.headers.keys() {
        if name.as_str().starts_with("x-keygate-") {
            assert!(removed.contains(&name.as_str()), "{name}");
        }
    }
    assert_eq!(ok.headers["x-keygate-account-id"], org.accounts[0].as_str());
    assert_eq!(check(Method::DELETE).await.status, 403);
}

#[tokio::test]
async fn the_envoy_example_check_names_the_real_client_whatever_it_forged() {
    // Keygate trusts Envoy (127.0.0.1); Envoy appends the address each
    // connection comes from to whatever X-Forwarded-For the client sent.
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.1"], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/scoped-keys", org.org_id),
            Some(&org.owner),
            Some(json!({"name": "office", "allowed_networks": ["198.51.100.0/24"], "password": PASSWORD,
                        "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}})),
        )
        .await;
    let key = r.body;
    let token = {
        let r = app
            .send(
                app.http
                    .post(format!("{}/api/v1/authentication/login", app.base))
                    .header("x-client-id", cid(&key))
                    .header("x-api-key", secret(&key))
                    .header("x-login-as", org.accounts[0].as_str())
                    .header("x-forwarded-for", "198.51.100.7"),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    };
    let check = |xff: &'static str| {
        app.send(
            app.http
                .get(format!("{}/auth/envoy/api/v1/balances/current", app.base))
                .bearer_auth(&token)
                .header("x-forwarded-for", xff),
        )
    };
    // Forged: the client wrote an allowed address, Envoy appended its own.
    assert_eq!(check("198.51.100.7, 203.0.113.9").await.status, 403);
    assert_eq!(check("x, 203.0.113.9").await.status, 403);
    assert_eq!(check("203.0.113.9, 198.51.100.7").await.status, 200);
}

/// A client whose connections come from `source` (any 127.0.0.0/8 address
/// works on Linux loopback).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// A balances reader limited to `networks`.
async fn allowlisted(app: &TestApp, org: &Org, name: &str, networks: &[&str]) -> Value {
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/scoped-keys", org.org_id),
            Some(&org.owner),
            Some(json!({"name": name, "allowed_networks": networks, "password": PASSWORD,
                        "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

/// An org-level key: its tokens name no account, so Keygate's answer has no
/// `x-keygate-account-id` to replace a client's.
async fn org_level(app: &TestApp, org: &Org) -> (String, String) {
    let key = app
        .scoped_key(
            org,
            json!({"name": "org", "org_permissions": perms(&[("billing_invoices", "read")])}),
        )
        .await;
    (cid(&key).to_owned(), app.token(&key, None).await)
}

/// Headers a client forges to pass for someone else.
const FORGED: &[(&str, &str)] = &[
    ("x-keygate-client-id", "cid_forged"),
    ("X-Keygate-Org-Id", "org_forged"),
    ("x-keygate-account-id", "acct_forged"),
    ("X-KEYGATE-ACCOUNT-ID", "acct_forged_again"),
    ("x_keygate_account_id", "acct_forged_underscore"),
];

/// Logs in through `base` from `source` with a forged `X-Forwarded-For`.
async fn login_via(
    app: &TestApp,
    base: &str,
    source: &str,
    xff: &str,
    key: &Value,
    account: &str,
) -> Resp {
    app.send(
        client_from(source)
            .post(format!("{base}/api/v1/authentication/login"))
            .header("x-client-id", cid(key))
            .header("x-api-key", secret(key))
            .header("x-login-as", account)
            .header("x-forwarded-for", xff),
    )
    .await
}

async fn call_via(app: &TestApp, url: &str, source: &str, xff: &str, token: &str) -> Resp {
    let mut rb = client_from(source)
        .get(url)
        .bearer_auth(token)
        .header("x-forwarded-for", xff);
    for (k, v) in FORGED {
        rb = rb.header(*k, *v);
    }
    app.send(rb).await
}

/// What the upstream saw of Keygate's identity headers: the real ones, and
/// none of the forged values.
fn upstream_saw_only_keygate(r: &Resp, client_id: &str, org: &Org, account: Option<&str>) {
    assert_eq!(r.status, 200, "{}", r.body);
    let h = &r.body["headers"];
    assert_eq!(h["x-keygate-client-id"], client_id, "{h}");
    assert_eq!(h["x-keygate-org-id"], org.org_id.as_str(), "{h}");
    match account {
        Some(a) => assert_eq!(h["x-keygate-account-id"], a, "{h}"),
        None => assert!(h.get("x-keygate-account-id").is_none(), "{h}"),
    }
    let text = h.to_string();
    assert!(
        !text.contains("forged"),
        "a forged header reached the upstream: {h}"
    );
}

/// Keygate's refusals reach the client through the proxy at `base` as Keygate
/// wrote them: status, JSON body, `WWW-Authenticate`, `Retry-After` and the
/// `RateLimit` headers.
async fn refusals_pass_through(app: &TestApp, org: &Org, base: &str) {
    let acct = org.accounts[0].as_str();
    let url = format!("{base}/api/v1/balances/current");
    let get =
        |url: String, token: String| app.send(client_from("127.0.0.2").get(url).bearer_auth(token));
    // 401: an invalid token.
    let r = get(url.clone(), "not-a-token".into()).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (401, "unauthorized"),
        "{}",
        r.body
    );
    let www = r.headers.get("www-authenticate").unwrap().to_str().unwrap();
    assert!(www.starts_with("Bearer"), "{www}");
    // 403: a resource the token lacks.
    let reader = allowlisted(app, org, "reader", &["127.0.0.0/8"]).await;
    let token = app.token(&reader, Some(acct)).await;
    let r = get(
        format!("{base}/api/v1/pa/payment_intents/pi_1"),
        token.clone(),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, "forbidden"),
        "{}",
        r.body
    );
    // 400: a path Keygate will not judge.
    let r = get(format!("{base}/api/v1/balances/current;x"), token).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["code"].is_string(), "{}", r.body);
    // 429: over the key's own limit, with when to come back.
    let limited = app
        .scoped_key(
            org,
            json!({"name": "limited", "rate_limit": {"requests": 2, "per_seconds": 60},
                   "account_permissions": {"accounts": [acct], "resources": perms(&[("balances", "read")])}}),
        )
        .await;
    let token = app.token(&limited, Some(acct)).await;
    let mut refused = None;
    for _ in 0..6 {
        let r = get(url.clone(), token.clone()).await;
        if r.status == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = refused.expect("no 429 after 6 calls allowed 2 per minute");
    assert_eq!(r.code(), "too_many_requests", "{}", r.body);
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
    assert!(
        r.headers
            .keys()
            .any(|k| k.as_str().starts_with("ratelimit")),
        "{:?}",
        r.headers
    );
}

mod caddy;
mod nginx;
mod systemd;
