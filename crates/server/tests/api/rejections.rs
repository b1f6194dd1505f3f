//! Requests refused for their shape: oversized headers get the documented
//! JSON error, and no error message echoes more than ~100 characters of what
//! the client sent or speaks in the parser's words.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;
use crate::raw_http::{Then, exchange, head};

#[tokio::test]
async fn request_headers_over_32_kib_are_431_with_a_json_body() {
    let app = spawn_app().await;
    let with_header = |len: usize, path: &str| {
        app.send(
            app.http
                .get(format!("{}{path}", app.base))
                .header("x-padding", "a".repeat(len)),
        )
    };
    for (len, path) in [
        (33 * 1024, "/healthz"),
        (33 * 1024, "/api/v1/balances/current"),
        (70_000, "/auth/nginx"),
        (70_000, "/dev/v1/me"),
    ] {
        let r = with_header(len, path).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (431, "headers_too_large"),
            "{len} bytes at {path}: {}",
            r.body
        );
        assert!(r.body["message"].as_str().unwrap().contains("32 KiB"));
    }
    // Many small headers count together.
    let mut rb = app.http.get(format!("{}/healthz", app.base));
    for i in 0..40 {
        rb = rb.header(format!("x-h{i}"), "b".repeat(900));
    }
    assert_eq!(app.send(rb).await.status, 431);
    // Just under the limit is fine.
    assert_eq!(with_header(31 * 1024, "/healthz").await.status, 200);
}

/// hyper alone answers more than 100 headers with an empty 431; Keygate
/// writes its JSON one in its place.
#[tokio::test]
async fn more_than_100_request_headers_are_431_with_a_json_body() {
    let app = spawn_app().await;
    let with = |n: usize| {
        let mut rb = app.http.get(format!("{}/healthz", app.base));
        for i in 0..n {
            rb = rb.header(format!("x-h{i}"), "v");
        }
        app.send(rb)
    };
    for n in [101, 150, 500] {
        let r = with(n).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (431, "headers_too_large"),
            "{n}"
        );
    }
    assert_eq!(with(90).await.status, 200);
    // Counted exactly, `host` included: 100 fields pass, the 101st is refused
    // with the same JSON, its own request id and security headers, and the
    // connection is closed.
    for (n, status) in [(100, 200), (101, 431)] {
        // `host`, n - 2 others, `connection`.
        let r = healthz_with_fields(&app.base, n - 2, &[("connection", "close")]).await;
        assert_eq!(r.status, status, "{n}: {} {}", r.head, r.body);
        assert!(r.closed, "{n}");
        assert!(r.head.contains("x-request-id: "), "{n}");
        assert!(r.head.contains("x-content-type-options: nosniff"), "{n}");
        if status == 431 {
            assert_eq!(r.json()["code"], "headers_too_large", "{n}");
        }
    }
}

/// `GET /healthz` over a raw connection with `host`, then `x-h1` to
/// `x-h{names}`, then `extra`: exactly the fields counted.
async fn healthz_with_fields(
    base: &str,
    names: usize,
    extra: &[(&str, &str)],
) -> crate::raw_http::RawResponse {
    let names: Vec<String> = (1..=names).map(|i| format!("x-h{i}")).collect();
    let mut headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    headers.extend_from_slice(extra);
    exchange(
        base,
        &head("GET", "/healthz", &headers),
        Then::Stall,
        Duration::from_secs(10),
    )
    .await
}

#[tokio::test]
async fn request_uris_over_8_kib_are_414_with_a_json_body() {
    let app = spawn_app().await;
    let get = |q: String| app.send(app.http.get(format!("{}/healthz?{q}", app.base)));
    let r = get("q=".to_owned() + &"a".repeat(9_000)).await;
    assert_eq!((r.status.as_u16(), r.code()), (414, "uri_too_long"));
    assert_eq!(get("q=".to_owned() + &"a".repeat(8_000)).await.status, 200);
}

/// From 65,535 bytes on, hyper refuses the target itself (`http::Uri` cannot
/// hold it); the answer is still Keygate's JSON 414, and the connection ends.
#[tokio::test]
async fn request_targets_of_64_kib_and_more_are_414_with_a_json_body() {
    let app = spawn_app().await;
    for len in [9_000, 65_534, 65_535, 70_000, 300_000] {
        let target = format!("/healthz?q={}", "a".repeat(len - 11));
        assert_eq!(target.len(), len);
        let r = exchange(
            &app.base,
            &head("GET", &target, &[("connection", "close")]),
            Then::Stall,
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (414, Some("uri_too_long")),
            "{len}: {} {}",
            r.head,
            r.body
        );
        assert!(r.head.contains("content-type: application/json"), "{len}");
        assert!(r.head.contains("x-request-id: "), "{len}");
        assert!(r.head.contains("x-content-type-options: nosniff"), "{len}");
    }
    // Far past hyper's own header limit the 431 is JSON too.
    let r = healthz_with_fields(&app.base, 1_100, &[]).await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (431, Some("headers_too_large")),
        "{} {}",
        r.head,
        r.body
    );
}

/// A chunked body whose chunk size is not hexadecimal: 400 on every surface
/// that reads bodies, JSON `invalid_body` or the app's 400 page, never 413.
#[tokio::test]
async fn a_malformed_chunked_body_is_400_on_every_surface() {
    let up = crate::gateway::echo_upstream().await;
    let app = spawn_app_with(&["--upstream", &format!("http://{up}")], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let sk = app
        .scoped_key(
            &org,
            json!({"name": "w", "account_permissions": {"accounts": [&org.accounts[0]],
                   "resources": perms(&[("payment_intents", "write")])}}),
        )
        .await;
    let bearer = format!("Bearer {}", app.token(&sk, None).await);
    let owner = format!("Bearer {}", org.owner.token);
    let accounts = format!("/dev/v1/orgs/{}/accounts", org.org_id);
    let json = "application/json";
    let form = "application/x-www-form-urlencoded";
    let cases: [(&str, &str, Option<&str>); 6] = [
        ("/dev/v1/sessions", json, None),
        (&accounts, json, Some(&owner)),
        ("/app/sign-in", form, None),
        ("/api/v1/pa/payment_intents/create", json, Some(&bearer)),
        ("/oauth/introspect", form, None),
        ("/secret-scanning/github", json, None),
    ];
    for (path, content_type, auth) in cases {
        let mut headers = vec![
            ("content-type", content_type),
            ("transfer-encoding", "chunked"),
        ];
        if let Some(a) = auth {
            headers.push(("authorization", a));
        }
        let mut req = head("POST", path, &headers);
        req.extend_from_slice(b"zz\r\nabc\r\n0\r\n\r\n");
        let r = exchange(&app.base, &req, Then::Stall, Duration::from_secs(10)).await;
        assert_eq!(r.status, 400, "{path}: {} {}", r.head, r.body);
        if path.starts_with("/app/") {
            assert!(r.head.contains("content-type: text/html"), "{path}");
            assert!(r.body.contains("could not be read"), "{path}");
        } else {
            assert_eq!(r.json()["code"], "invalid_body", "{path}: {}", r.body);
        }
        assert!(r.closed, "{path}");
    }
}

#[tokio::test]
async fn error_messages_quote_at_most_about_100_characters_of_input() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let long = "r".repeat(60_000);
    let base = format!("/dev/v1/orgs/{}", org.org_id);
    let unknown_resource = app
        .req(
            Method::POST,
            &format!("{base}/scoped-keys"),
            Some(&org.owner),
            Some(
                json!({"name": "k", "org_permissions": [{"resource": long, "access": "read"}],
                        "password": PASSWORD}),
            ),
        )
        .await;
    let mut unknown_field = json!({"name": "k", "password": PASSWORD});
    unknown_field[&long] = json!(1);
    let unknown_field = app
        .req(
            Method::POST,
            &format!("{base}/scoped-keys"),
            Some(&org.owner),
            Some(unknown_field),
        )
        .await;
    let long_param = "p".repeat(5_000);
    let unknown_param = app
        .req(
            Method::GET,
            &format!("{base}/audit-events?{long_param}=1"),
            Some(&org.owner),
            None,
        )
        .await;
    for r in [&unknown_resource, &unknown_field, &unknown_param] {
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "validation_error"),
            "{}",
            r.body
        );
        let text = r.body.to_string();
        assert!(
            text.len() < 600,
            "{} bytes: {}",
            text.len(),
            &text[..600.min(text.len())]
        );
        assert!(
            text.contains(&"r".repeat(100)) || text.contains(&"p".repeat(100)),
            "{text}"
        );
    }
    let message = unknown_resource.body["message"].as_str().unwrap();
    assert!(
        message.starts_with("unknown resource \"rrr") && message.ends_with('…'),
        "{message}"
    );
}

#[tokio::test]
async fn query_string_errors_name_the_parameter_in_the_api_s_terms() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let get = |q: &str| {
        let path = format!("/dev/v1/orgs/{}/audit-events?{q}", org.org_id);
        let (app, org) = (&app, &org);
        async move { app.req(Method::GET, &path, Some(&org.owner), None).await }
    };
    let limit = "limit must be a whole number from 1 to 200";
    let cases = [
        ("limit=abc", "limit", limit),
        ("limit=0", "limit", limit),
        ("limit=201", "limit", limit),
        ("limit=-1", "limit", limit),
        ("a=1", "a", "unknown query parameter \"a\""),
        (
            "limit=5&limit=6",
            "limit",
            "query parameter \"limit\" is given twice",
        ),
        (
            "client_id=nope",
            "client_id",
            "client_id must be a client id",
        ),
    ];
    for (q, source, message) in cases {
        let r = get(q).await;
        assert_eq!(
            (
                r.status.as_u16(),
                r.code(),
                r.body["source"].as_str(),
                r.body["message"].as_str()
            ),
            (400, "validation_error", Some(source), Some(message)),
            "{q}"
        );
    }
    assert_eq!(get("limit=5").await.status, 200);
    // The webhook deliveries list words its limit the same way.
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/deliveries?limit=x", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.body["message"], limit);
}

#[tokio::test]
async fn a_wrong_typed_json_field_is_named_without_its_value() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let r = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "owner@acme.test", "password": 424242})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "validation_error");
    assert_eq!(r.body["source"], "password");
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.contains("\"password\"") && message.contains("wrong type"),
        "{message}"
    );
    assert!(!message.contains("424242"), "{message}");
    // Nested: the path to the value.
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/scoped-keys", org.org_id),
            Some(&org.owner),
            Some(
                json!({"name": "k", "org_permissions": [{"resource": 7, "access": "read"}],
                        "password": PASSWORD}),
            ),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["source"], "org_permissions[0].resource",
        "{}",
        r.body
    );
}

#[tokio::test]
async fn an_unknown_route_says_no_route_and_a_missing_object_says_no_such_object() {
    let app = spawn_app().await;
    let r = app
        .req(Method::GET, "/foo?api_key=kg_live_secret", None, None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "not_found");
    assert_eq!(r.body["message"], "no route GET /foo");
    let long = format!("/{}", "p".repeat(5000));
    let r = app.req(Method::DELETE, &long, None, None).await;
    assert_eq!(r.status, 404);
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.starts_with("no route DELETE /ppp") && message.len() < 130,
        "{message}"
    );

    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let r = app
        .req(
            Method::GET,
            &format!(
                "/dev/v1/orgs/{}/scoped-keys/cli_doesnotexist0000000",
                org.org_id
            ),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["message"], "no such object");
}
