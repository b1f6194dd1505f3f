//! The shipped proxy examples. Each nginx config runs for real here, with a
//! client that forges `X-Forwarded-For` and `x-keygate-*` headers. Traefik and
//! Envoy are not in Debian, so they cannot run here: each YAML file is read
//! with a small block-YAML reader (enough for these files: mappings, `- `
//! lists, flow values kept as text) and Keygate is then asked exactly what
//! that proxy, so configured, would ask.
//! The nginx runs are in `examples/nginx.rs`.

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

#[test]
fn the_nginx_example_asks_the_nginx_endpoint() {
    let conf = example("nginx/keygate.conf");
    assert!(conf.contains("proxy_pass http://keygate/auth/nginx;"));
    assert!(conf.contains("proxy_set_header X-Original-Method $request_method;"));
    assert!(conf.contains("proxy_set_header X-Original-URI $request_uri;"));
}

mod nginx;
