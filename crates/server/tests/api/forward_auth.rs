//! Forward-auth, one endpoint per proxy, and the request rules shared with the
//! gateway: only real methods, no path that two parsers read two ways. Paths
//! that an HTTP client library would normalise go over a raw socket.

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::gateway::gateway;
use crate::helpers::*;

/// Sends `head` (request line and headers, without the final blank line) as
/// is, and returns the status and the JSON body (Null when there is none).
pub async fn raw(app: &TestApp, head: &str) -> (u16, Value) {
    let addr = app.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .filter(|b| !b.is_empty())
        .map(|b| serde_json::from_str(b).unwrap_or(Value::String(b.to_owned())))
        .unwrap_or(Value::Null);
    (status, body)
}

/// An org with a token that may read balances (account 0) and nothing else.
async fn reader() -> (crate::gateway::Gateway, String) {
    let g = gateway(&[]).await;
    let sk = g
        .app
        .scoped_key(&g.org, json!({"name": "fa", "account_permissions": {"accounts": [&g.org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let token = g.app.token(&sk, None).await;
    (g, token)
}

async fn ask(app: &TestApp, path: &str, token: &str, headers: &[(&str, &str)]) -> Resp {
    let mut rb = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(token);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    app.send(rb).await
}

const ORIGINAL_READ: [(&str, &str); 2] = [
    ("x-original-method", "GET"),
    ("x-original-uri", "/api/v1/balances/current"),
];
const FORWARDED_WRITE: [(&str, &str); 2] = [
    ("x-forwarded-method", "POST"),
    ("x-forwarded-uri", "/api/v1/transfers/create"),
];

/// The review's attack: Traefik describes the real request in X-Forwarded-*,
/// and the client adds X-Original-* naming something it may do.
#[tokio::test]
async fn the_traefik_endpoint_ignores_spoofed_x_original_headers() {
    let (g, token) = reader().await;
    let both: Vec<_> = FORWARDED_WRITE
        .iter()
        .chain(&ORIGINAL_READ)
        .copied()
        .collect();
    let r = ask(&g.app, "/auth/traefik", &token, &both).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, "forbidden"),
        "{}",
        r.body
    );
    assert!(r.headers.get("x-keygate-client-id").is_none());
    // And the honest request Traefik describes is allowed.
    let r = ask(
        &g.app,
        "/auth/traefik",
        &token,
        &[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/api/v1/balances/current?x=1"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["x-keygate-account-id"],
        g.org.accounts[0].as_str()
    );
}

#[tokio::test]
async fn each_endpoint_reads_only_its_own_header_family() {
    let (g, token) = reader().await;
    let app = &g.app;
    let both: Vec<_> = ORIGINAL_READ
        .iter()
        .chain(&FORWARDED_WRITE)
        .copied()
        .collect();
    // nginx and /auth/verify: X-Original-* decides, X-Forwarded-* is ignored.
    for path in ["/auth/nginx", "/auth/verify"] {
        assert_eq!(ask(app, path, &token, &both).await.status, 200, "{path}");
        let r = ask(app, path, &token, &FORWARDED_WRITE).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "validation_error"),
            "{path}"
        );
    }
    // Traefik without its own headers is a broken config, whatever else is sent.
    let r = ask(app, "/auth/traefik", &token, &ORIGINAL_READ).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "validation_error"));
    // Envoy: the request itself; neither family counts.
    let envoy = |m: Method, path: &str| {
        let mut rb = app
            .http
            .request(m, format!("{}/auth/envoy{path}", app.base))
            .bearer_auth(&token);
        for (k, v) in ORIGINAL_READ.iter().chain(&FORWARDED_WRITE) {
            rb = rb.header(*k, *v);
        }
        app.send(rb)
    };
    assert_eq!(
        envoy(Method::GET, "/api/v1/balances/current?x=1")
            .await
            .status,
        200
    );
    assert_eq!(
        envoy(Method::HEAD, "/api/v1/balances/current").await.status,
        200
    );
    let r = envoy(Method::POST, "/api/v1/balances/current").await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
    assert_eq!(
        envoy(Method::GET, "/api/v1/transfers/create").await.status,
        403
    );
    // The old Envoy prefix under /auth/verify is gone.
    let r = ask(app, "/auth/verify/api/v1/balances/current", &token, &[]).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"));
    // Without a token: 401, as everywhere.
    let r = app
        .send(
            app.http
                .get(format!("{}/auth/envoy/api/v1/balances/current", app.base)),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.headers["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn missing_or_empty_proxy_headers_are_400_naming_the_header_never_get_slash() {
    let (g, token) = reader().await;
    let cases = [
        (
            "/auth/nginx",
            "x-original-method",
            "X-Original-Method",
            "x-original-uri",
        ),
        (
            "/auth/nginx",
            "x-original-uri",
            "X-Original-URI",
            "x-original-method",
        ),
        (
            "/auth/verify",
            "x-original-uri",
            "X-Original-URI",
            "x-original-method",
        ),
        (
            "/auth/traefik",
            "x-forwarded-method",
            "X-Forwarded-Method",
            "x-forwarded-uri",
        ),
        (
            "/auth/traefik",
            "x-forwarded-uri",
            "X-Forwarded-Uri",
            "x-forwarded-method",
        ),
    ];
    for (path, missing, title, present) in cases {
        let value = if present.ends_with("method") {
            "GET"
        } else {
            "/api/v1/balances/current"
        };
        for headers in [
            vec![(present, value)],
            vec![(present, value), (missing, " ")],
        ] {
            let r = ask(&g.app, path, &token, &headers).await;
            assert_eq!(
                (r.status.as_u16(), r.code(), r.body["source"].as_str()),
                (400, "validation_error", Some(missing)),
                "{path} {headers:?}"
            );
            let message = r.body["message"].as_str().unwrap();
            assert!(message.contains(title), "{message}");
        }
    }
    // Nothing at all: still 400, not a check of GET /.
    let r = ask(&g.app, "/auth/nginx", &token, &[]).await;
    assert_eq!(r.status, 400);
}

/// Every spelling of "this path reads two ways", at the gateway and at every
/// forward-auth endpoint; a clean path beside them is allowed, so the table
/// cannot pass by refusing everything.
#[tokio::test]
async fn ambiguous_paths_are_400_at_the_gateway_and_every_forward_auth_endpoint() {
    let g = gateway(&[]).await;
    let key = g.app.admin_key(&g.org, &g.org.org_id).await;
    let token = g.app.token(&key, None).await;
    let auth = format!("Authorization: Bearer {token}");
    let bad = [
        "/api/v1/invoices/..;/balances/current",
        "/api/v1/invoices;x=1/1",
        "/api/v1/invoices/1;",
        "/api/v1/invoices/..%3B/balances/current",
        "/api/v1/invoices/..%3b/balances/current",
        "/api/v1/invoices/%252e%252e/balances/current",
        "/api/v1/invoices/%25",
        "/api/v1/invoices/a%2fb",
        "/api/v1/invoices/a%2Fb",
        "/api/v1/invoices/a%5cb",
        "/api/v1/invoices/a%5Cb",
        "/api/v1/invoices/a\\b",
        "/api/v1/invoices/%2e%2e/x",
        "/api/v1/invoices/%2E%2E/x",
        "/api/v1/invoices/%2e",
        "/api/v1/invoices/./1",
        "/api/v1/invoices/../invoices/1",
        "/api/v1/invoices/1/..",
        "/api/v1/invoices//1",
        "/api/v1/invoices/%zz",
    ];
    let clean = "/api/v1/invoices/inv_1?page=%2e";
    for path in bad.iter().chain([&clean]) {
        let want = if *path == clean { 200 } else { 400 };
        let places = [
            ("gateway", format!("GET {path} HTTP/1.1\r\n{auth}")),
            ("envoy", format!("GET /auth/envoy{path} HTTP/1.1\r\n{auth}")),
            (
                "nginx",
                format!(
                    "GET /auth/nginx HTTP/1.1\r\n{auth}\r\nX-Original-Method: GET\r\nX-Original-URI: {path}"
                ),
            ),
            (
                "verify",
                format!(
                    "GET /auth/verify HTTP/1.1\r\n{auth}\r\nX-Original-Method: GET\r\nX-Original-URI: {path}"
                ),
            ),
            (
                "traefik",
                format!(
                    "GET /auth/traefik HTTP/1.1\r\n{auth}\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Uri: {path}"
                ),
            ),
        ];
        for (place, head) in places {
            let (status, body) = raw(&g.app, &head).await;
            assert_eq!(status, want, "{place} {path}: {body}");
            if want == 400 {
                assert_eq!(body["code"], "invalid_path", "{place} {path}");
            }
        }
    }
    // Refused before the token is read: no token, same 400.
    let (status, body) = raw(&g.app, "GET /api/v1/invoices/..;/balances/current HTTP/1.1").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_path")));
}

#[tokio::test]
async fn methods_other_than_the_seven_are_405_at_the_gateway_and_every_forward_auth_endpoint() {
    let (g, _) = reader().await;
    let key = g.app.admin_key(&g.org, &g.org.accounts[0]).await;
    let token = g.app.token(&key, None).await;
    let auth = format!("Authorization: Bearer {token}");
    let path = "/api/v1/balances/current";
    for m in ["CONNECT", "TRACE", "FOO", "get", "Post", "PROPFIND"] {
        let places = [
            ("gateway", format!("{m} {path} HTTP/1.1\r\n{auth}"), None),
            (
                "envoy",
                format!("{m} /auth/envoy{path} HTTP/1.1\r\n{auth}"),
                None,
            ),
            (
                "nginx own method",
                format!(
                    "{m} /auth/nginx HTTP/1.1\r\n{auth}\r\nX-Original-Method: GET\r\nX-Original-URI: {path}"
                ),
                None,
            ),
            (
                "nginx",
                format!(
                    "GET /auth/nginx HTTP/1.1\r\n{auth}\r\nX-Original-Method: {m}\r\nX-Original-URI: {path}"
                ),
                Some("x-original-method"),
            ),
            (
                "verify",
                format!(
                    "GET /auth/verify HTTP/1.1\r\n{auth}\r\nX-Original-Method: {m}\r\nX-Original-URI: {path}"
                ),
                Some("x-original-method"),
            ),
            (
                "traefik",
                format!(
                    "GET /auth/traefik HTTP/1.1\r\n{auth}\r\nX-Forwarded-Method: {m}\r\nX-Forwarded-Uri: {path}"
                ),
                Some("x-forwarded-method"),
            ),
        ];
        for (place, head, source) in places {
            let (status, body) = raw(&g.app, &head).await;
            assert_eq!(
                (status, body["code"].as_str(), body["source"].as_str()),
                (405, Some("method_not_allowed"), source),
                "{m} at {place}: {body}"
            );
        }
    }
    // The seven all pass the same token (the admin key may write).
    for m in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let head = format!(
            "GET /auth/traefik HTTP/1.1\r\n{auth}\r\nX-Forwarded-Method: {m}\r\nX-Forwarded-Uri: {path}"
        );
        assert_eq!(raw(&g.app, &head).await.0, 200, "{m}");
        let head = format!("{m} {path} HTTP/1.1\r\n{auth}\r\nContent-Length: 0");
        assert_eq!(raw(&g.app, &head).await.0, 200, "{m} at the gateway");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_forward_auth_endpoint() {
    let app = spawn_app().await;
    let r = app.req(Method::GET, "/openapi.json", None, None).await;
    let paths = r.body["paths"].as_object().unwrap();
    for p in [
        "/auth/verify",
        "/auth/nginx",
        "/auth/traefik",
        "/auth/envoy/{path}",
    ] {
        let responses = &paths[p]["get"]["responses"];
        for status in ["200", "400", "401", "403", "405"] {
            assert!(responses.get(status).is_some(), "{p} {status}");
        }
    }
    let traefik: Vec<&str> = paths["/auth/traefik"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(traefik.contains(&"x-forwarded-uri") && !traefik.contains(&"x-original-uri"));
}
