//! The upstream hears only Keygate: the built-in gateway forwards neither
//! Keygate's own cookies nor a client's claims about the URL, its address,
//! host or scheme; a target that two parsers read two ways is refused; and a
//! header a decision depends on, sent twice, is refused on every surface
//! rather than read as the first one.

use std::net::SocketAddr;

use axum::extract::Request;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// A real upstream that answers with every header field it received, in
/// order, duplicates kept: `{"path", "headers": [[name, value], …]}`.
async fn listing_upstream() -> SocketAddr {
    let app = axum::Router::new().fallback(|req: Request| async move {
        let headers: Vec<Value> = req
            .headers()
            .iter()
            .map(|(k, v)| json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
            .collect();
        axum::Json(json!({"path": req.uri().path(), "headers": headers}))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The values the upstream received for `name`, in order.
fn heard<'a>(body: &'a Value, name: &str) -> Vec<&'a str> {
    body["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p[0] == name)
        .map(|p| p[1].as_str().unwrap())
        .collect()
}

struct Setup {
    app: TestApp,
    org: Org,
    /// May read balances of the first account, nothing else.
    token: String,
}

async fn setup(extra: &[&str]) -> Setup {
    let up = listing_upstream().await;
    let url = format!("http://{up}");
    let mut args = vec!["--upstream", url.as_str()];
    args.extend_from_slice(extra);
    let app = spawn_app_with(&args, &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let sk = app
        .scoped_key(&org, json!({"name": "reader", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let token = app.token(&sk, None).await;
    Setup { app, org, token }
}

impl Setup {
    /// `path` with the reader's token and `headers` (appended, so a name may
    /// repeat).
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut rb = self
            .app
            .http
            .get(format!("{}{path}", self.app.base))
            .bearer_auth(&self.token);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        self.app.send(rb).await
    }

    fn host(&self) -> &str {
        self.app.base.trim_start_matches("http://")
    }
}

#[tokio::test]
async fn keygate_cookies_never_reach_the_upstream_in_any_spelling() {
    let s = setup(&[]).await;
    let session = &s.org.owner.token;
    let path = "/api/v1/balances/current";
    // A browser on the same origin sends the app's cookies with every call;
    // a client may split them over several headers and space them oddly.
    let first = format!("theme=dark; keygate_session={session}; lang=en");
    let second = format!("__Host-keygate_session={session};keygate_device=d1");
    let r = s
        .get(
            path,
            &[
                ("cookie", first.as_str()),
                ("cookie", second.as_str()),
                (
                    "cookie",
                    "  KEYGATE_PRESESSION=p ;keygate_presession=q ; cart=3",
                ),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(heard(&r.body, "cookie"), ["theme=dark; lang=en; cart=3"]);
    assert!(!r.body.to_string().contains(session.as_str()));
    // Only Keygate's cookies: no Cookie header at all.
    let r = s
        .get(path, &[("cookie", &format!("keygate_session={session}"))])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(heard(&r.body, "cookie").is_empty(), "{}", r.body);
    // Other cookies pass untouched.
    let r = s.get(path, &[("cookie", "a=1;b=2")]).await;
    assert_eq!(heard(&r.body, "cookie"), ["a=1;b=2"]);
}

#[tokio::test]
async fn the_upstream_hears_keygates_view_of_the_client_not_the_clients() {
    let s = setup(&[]).await;
    let r = s
        .get(
            "/api/v1/balances/current",
            &[
                ("x-original-url", "/api/v1/transfers/create"),
                ("x_original_url", "/api/v1/transfers/create"),
                ("x-rewrite-url", "/api/v1/transfers/create"),
                ("X_Rewrite_Url", "/api/v1/transfers/create"),
                ("forwarded", "for=198.51.100.7;host=evil.test;proto=https"),
                ("x-forwarded-for", "198.51.100.7"),
                ("x_forwarded_for", "198.51.100.8"),
                ("x-forwarded-host", "evil.test"),
                ("x_forwarded_host", "evil.test"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-prefix", "/evil"),
                ("x-real-ip", "198.51.100.7"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["path"], "/api/v1/balances/current");
    let names: Vec<&str> = r.body["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    for gone in [
        "x-original-url",
        "x_original_url",
        "x-rewrite-url",
        "x_rewrite_url",
        "x_forwarded_for",
        "x_forwarded_host",
        "x-forwarded-prefix",
        "x-real-ip",
    ] {
        assert!(
            !names.contains(&gone),
            "{gone} reached the upstream: {names:?}"
        );
    }
    let host = s.host();
    assert_eq!(heard(&r.body, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(heard(&r.body, "x-forwarded-host"), [host]);
    assert_eq!(heard(&r.body, "x-forwarded-proto"), ["http"]);
    assert_eq!(
        heard(&r.body, "forwarded"),
        [format!("for=127.0.0.1;host=\"{host}\";proto=http").as_str()]
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_upstream_hears_the_client_keygate_decided_on() {
    let s = setup(&["--trusted-proxy", "127.0.0.1"]).await;
    let r = s
        .get(
            "/api/v1/balances/current",
            &[
                ("x-forwarded-for", "198.51.100.7"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "evil.test"),
                ("forwarded", "for=203.0.113.1"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let host = s.host();
    assert_eq!(heard(&r.body, "x-forwarded-for"), ["198.51.100.7"]);
    assert_eq!(heard(&r.body, "x-forwarded-proto"), ["https"]);
    assert_eq!(heard(&r.body, "x-forwarded-host"), [host]);
    assert_eq!(
        heard(&r.body, "forwarded"),
        [format!("for=198.51.100.7;host=\"{host}\";proto=https").as_str()]
    );
}

#[tokio::test]
async fn a_raw_hash_space_or_tab_in_the_uri_a_proxy_names_is_an_invalid_path() {
    let s = setup(&[]).await;
    let targets = [
        // The review's path: `list` to the check, `balances` to the server.
        "/api/v1/balances/current#/../../transfers/create",
        "/api/v1/balances/current?x=1#/../../transfers/create",
        "/api/v1/balances/current x",
        "/api/v1/balances/cur\trent",
    ];
    for target in targets {
        for (endpoint, method_h, uri_h) in [
            ("/auth/verify", "x-original-method", "x-original-uri"),
            ("/auth/nginx", "x-original-method", "x-original-uri"),
            ("/auth/traefik", "x-forwarded-method", "x-forwarded-uri"),
        ] {
            let r = s.get(endpoint, &[(method_h, "GET"), (uri_h, target)]).await;
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (400, "invalid_path"),
                "{endpoint} {target:?}: {}",
                r.body
            );
        }
    }
    // The honest request each proxy describes is still allowed.
    let r = s
        .get(
            "/auth/nginx",
            &[
                ("x-original-method", "GET"),
                ("x-original-uri", "/api/v1/balances/current?x=%23"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn forward_auth_refuses_its_own_headers_sent_twice() {
    let s = setup(&[]).await;
    let read = "/api/v1/balances/current";
    let write = "/api/v1/transfers/create";
    for (endpoint, method_h, uri_h) in [
        ("/auth/verify", "x-original-method", "x-original-uri"),
        ("/auth/nginx", "x-original-method", "x-original-uri"),
        ("/auth/traefik", "x-forwarded-method", "x-forwarded-uri"),
    ] {
        for (headers, source) in [
            ([(method_h, "GET"), (uri_h, read), (uri_h, write)], uri_h),
            (
                [(method_h, "GET"), (method_h, "POST"), (uri_h, read)],
                method_h,
            ),
        ] {
            let r = s.get(endpoint, &headers).await;
            assert_eq!(
                (r.status.as_u16(), r.code(), r.body["source"].as_str()),
                (400, "validation_error", Some(source)),
                "{endpoint}: {}",
                r.body
            );
        }
    }
}

#[tokio::test]
async fn a_second_authorization_header_is_refused_on_every_surface() {
    let s = setup(&[
        "--forward-authorization",
        "--introspection-secret",
        "introspection-secret-for-tests",
    ])
    .await;
    let app = &s.app;
    let good = format!("Bearer {}", s.token);
    let other = "Bearer not-a-token-keygate-saw";
    let refused = |r: &Resp, what: &str| {
        assert_eq!(
            (r.status.as_u16(), r.code(), r.body["source"].as_str()),
            (400, "validation_error", Some("authorization")),
            "{what}: {}",
            r.body
        );
    };
    let twice = |m: Method, path: &str, first: &str, second: &str| {
        app.http
            .request(m, format!("{}{path}", app.base))
            .header("authorization", first)
            .header("authorization", second)
    };
    let original = [
        ("x-original-method", "GET"),
        ("x-original-uri", "/api/v1/balances/current"),
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/api/v1/balances/current"),
    ];
    for (first, second) in [(good.as_str(), other), (other, good.as_str())] {
        for path in [
            "/api/v1/balances/current",
            "/auth/verify",
            "/auth/nginx",
            "/auth/traefik",
            "/auth/envoy/api/v1/balances/current",
        ] {
            let mut rb = twice(Method::GET, path, first, second);
            for (k, v) in original {
                rb = rb.header(k, v);
            }
            refused(&app.send(rb).await, path);
        }
    }
    // Introspection: its caller's Basic credentials, twice.
    let basic = |p: &str| {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("gw:{p}"));
        format!("Basic {b64}")
    };
    let rb = twice(
        Method::POST,
        "/oauth/introspect",
        &basic("introspection-secret-for-tests"),
        &basic("wrong"),
    )
    .header("content-type", "application/x-www-form-urlencoded")
    .body(format!("token={}", s.token));
    refused(&app.send(rb).await, "introspection");
    // The management API: the session, twice.
    let session = format!("Bearer {}", s.org.owner.token);
    let rb = twice(Method::GET, "/dev/v1/me", &session, "Bearer other");
    refused(&app.send(rb).await, "/dev/v1/me");
    // One is fine everywhere (the echo is not read: it repeats the token).
    let r = app
        .http
        .get(format!("{}/api/v1/balances/current", app.base))
        .header("authorization", &good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .req(Method::GET, "/dev/v1/me", Some(&s.org.owner), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The login reads only its own headers and ignores `Authorization`
    // (API.md), one or two of them.
    let key = app.admin_key(&s.org, &s.org.org_id).await;
    let rb = twice(Method::POST, "/api/v1/authentication/login", &good, other)
        .header("x-client-id", cid(&key))
        .header("x-api-key", secret(&key));
    let r = app.send(rb).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn login_and_management_headers_sent_twice_are_refused() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = app.admin_key(&org, &org.org_id).await;
    let (id, secret) = (cid(&key), secret(&key));
    let login = |headers: &[(&str, &str)]| {
        let mut rb = app
            .http
            .post(format!("{}/api/v1/authentication/login", app.base));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        app.send(rb)
    };
    let cases = [
        (
            vec![
                ("x-client-id", id),
                ("x-client-id", "kg_other"),
                ("x-api-key", secret),
            ],
            "x-client-id",
        ),
        (
            vec![
                ("x-client-id", id),
                ("x-api-key", secret),
                ("x-api-key", "wrong"),
            ],
            "x-api-key",
        ),
        (
            vec![
                ("x-client-id", id),
                ("x-api-key", secret),
                ("x-login-as", org.accounts[0].as_str()),
                ("x-login-as", "acct_other"),
            ],
            "x-login-as",
        ),
    ];
    for (headers, source) in &cases {
        let r = login(headers).await;
        assert_eq!(
            (r.status.as_u16(), r.code(), r.body["source"].as_str()),
            (400, "validation_error", Some(*source)),
            "{}",
            r.body
        );
    }
    // `/dev/v1`: `application/json` then `text/plain` is not read as JSON.
    let body = json!({"email": "owner@acme.test", "password": PASSWORD}).to_string();
    for (first, second) in [
        ("application/json", "text/plain"),
        ("text/plain", "application/json"),
        ("application/json", "application/json"),
    ] {
        let rb = app
            .http
            .post(format!("{}/dev/v1/sessions", app.base))
            .header("content-type", first)
            .header("content-type", second)
            .body(body.clone());
        let r = app.send(rb).await;
        assert_eq!(
            (r.status.as_u16(), r.code(), r.body["source"].as_str()),
            (400, "validation_error", Some("content-type")),
            "{first}, {second}: {}",
            r.body
        );
    }
}

mod nginx;
