//! Prometheus metrics on their own listener (`--metrics-listen`): scraped over
//! HTTP like Prometheus does, every line checked against the text format, and
//! the named series moving with real logins, token checks and deliveries.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::json;

use crate::gateway::gateway;
use crate::helpers::*;
use crate::receivers::WebhookReceiver;

/// The metrics URL the process printed at start.
async fn metrics_url(app: &TestApp) -> String {
    assert!(
        app.wait_for_log("metrics listening on ", 10).await,
        "{}",
        app.log()
    );
    let log = app.log();
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("metrics listening on "))
        .unwrap();
    line.trim().to_owned()
}

/// One sample: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// Parses the Prometheus/OpenMetrics text format strictly: every line is a
/// `# HELP|TYPE|UNIT|EOF` comment or `name{label="value",…} number`; panics
/// naming the first line that is neither.
fn parse(text: &str) -> Vec<Sample> {
    fn name_ok(s: &str) -> bool {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
            && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
    }
    let mut out = Vec::new();
    assert!(text.ends_with("# EOF\n"), "ends with # EOF:\n{text}");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let kind = rest.split(' ').next().unwrap();
            assert!(
                ["HELP", "TYPE", "UNIT", "EOF"].contains(&kind),
                "comment line: {line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value of {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, HashMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                let mut labels = HashMap::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (k, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
                    assert!(name_ok(k), "label name {k:?} in {line}");
                    let mut v = String::new();
                    let mut chars = after.char_indices();
                    let end = loop {
                        match chars.next() {
                            Some((_, '\\')) => {
                                let (_, e) = chars.next().unwrap();
                                v.push(e);
                            }
                            Some((i, '"')) => break i,
                            Some((_, ch)) => v.push(ch),
                            None => panic!("unterminated label value in {line}"),
                        }
                    };
                    labels.insert(k.to_owned(), v);
                    rest = after[end + 1..].trim_start_matches(',');
                }
                (name, labels)
            }
        };
        assert!(name_ok(name), "metric name {name:?} in {line}");
        out.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    out
}

/// The value of the one sample named `name` with these labels (0 if absent).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?}: {found:?}");
    found.first().map_or(0.0, |s| s.value)
}

/// The samples once one webhook attempt with `outcome` is counted (the
/// attempt is recorded after the POST is answered), or after 5 s.
async fn attempts_reach(app: &TestApp, url: &str, outcome: &str) -> Vec<Sample> {
    let labels = [("channel", "webhook"), ("outcome", outcome)];
    poll(std::time::Duration::from_secs(5), async || {
        let samples = scrape(app, url).await;
        if value(&samples, "keygate_notification_attempts_total", &labels) == 1.0 {
            Ok(samples)
        } else {
            Err(samples)
        }
    })
    .await
    .unwrap_or_else(|samples| samples)
}

async fn scrape(app: &TestApp, url: &str) -> Vec<Sample> {
    let r = app.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    parse(&r.text().await.unwrap())
}

#[tokio::test]
async fn metrics_are_scraped_from_their_own_listener_and_count_real_traffic() {
    let g = gateway(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--introspection-secret",
        "intro-secret-123",
    ])
    .await;
    let (app, org) = (&g.app, &g.org);
    let url = metrics_url(app).await;

    // Never on the public listener; the metrics listener has nothing else.
    let r = app.req(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status, 404);
    let other = url.replace("/metrics", "/healthz");
    assert_eq!(app.http.get(&other).send().await.unwrap().status(), 404);

    let before = scrape(app, &url).await;
    for name in [
        "keygate_logins_total",
        "keygate_token_checks_total",
        "keygate_http_request_duration_seconds_bucket",
        "keygate_http_request_duration_seconds_count",
        "keygate_http_request_duration_seconds_sum",
        "keygate_credential_cache_keys",
        "keygate_credential_cache_age_seconds",
        "keygate_outbox_pending",
        "keygate_outbox_oldest_pending_age_seconds",
        "keygate_notification_attempts_total",
        "keygate_audit_events_dropped_total",
        "keygate_rate_limit_refusals_total",
        "keygate_db_pool_connections",
        "keygate_db_pool_max_connections",
        "keygate_store_up",
    ] {
        assert!(before.iter().any(|s| s.name == name), "{name} is exported");
    }
    assert_eq!(value(&before, "keygate_store_up", &[]), 1.0);
    assert!(
        before
            .iter()
            .any(|s| s.name == "keygate_db_pool_max_connections" && s.value >= 1.0)
    );

    // Logins: two good, one bad.
    let key = app
        .scoped_key(
            org,
            json!({"name": "m", "account_permissions": {"accounts": [&org.accounts[0]],
                   "resources": perms(&[("balances", "read")])}}),
        )
        .await;
    let token = app.token(&key, None).await;
    app.token(&key, None).await;
    let bad = app.login(cid(&key), "sk_live_wrong", None).await;
    assert_eq!(bad.status, 401);

    // Token checks: the gateway, forward-auth (nginx, Traefik, Envoy), introspection.
    let call = |rb: reqwest::RequestBuilder| async move { app.send(rb).await.status.as_u16() };
    let balances = format!("{}/api/v1/balances/current", app.base);
    assert_eq!(call(app.http.get(&balances).bearer_auth(&token)).await, 200);
    assert_eq!(call(app.http.get(&balances).bearer_auth(&token)).await, 200);
    assert_eq!(call(app.http.get(&balances).bearer_auth("nope")).await, 401);
    let verify = |path: &str, uri: &str, t: &str| {
        app.http
            .get(format!("{}{path}", app.base))
            .bearer_auth(t)
            .header("x-original-method", "GET")
            .header("x-original-uri", uri)
    };
    assert_eq!(
        call(verify("/auth/verify", "/api/v1/balances/current", &token)).await,
        200
    );
    assert_eq!(
        call(verify("/auth/nginx", "/api/v1/transfers", &token)).await,
        403
    );
    assert_eq!(
        call(
            app.http
                .get(format!("{}/auth/nginx", app.base))
                .bearer_auth(&token)
        )
        .await,
        400
    );
    assert_eq!(
        call(
            app.http
                .get(format!("{}/auth/traefik", app.base))
                .bearer_auth(&token)
                .header("x-forwarded-method", "GET")
                .header("x-forwarded-uri", "/api/v1/balances/current")
        )
        .await,
        200
    );
    assert_eq!(
        call(
            app.http
                .get(format!("{}/auth/envoy/api/v1/balances/current", app.base))
                .bearer_auth("x")
        )
        .await,
        401
    );
    let introspect = |t: &str, secret: &str| {
        app.http
            .post(format!("{}/oauth/introspect", app.base))
            .basic_auth("rs", Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={t}"))
    };
    assert_eq!(call(introspect(&token, "intro-secret-123")).await, 200);
    assert_eq!(call(introspect("nope", "intro-secret-123")).await, 200);
    assert_eq!(call(introspect(&token, "wrong")).await, 401);

    let after = scrape(app, &url).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(
        moved("keygate_logins_total", &[("outcome", "success")]),
        2.0
    );
    assert_eq!(
        moved("keygate_logins_total", &[("outcome", "unauthorized")]),
        1.0
    );
    let check = |surface: &str, outcome: &str| {
        moved(
            "keygate_token_checks_total",
            &[("surface", surface), ("outcome", outcome)],
        )
    };
    assert_eq!(check("gateway", "allowed"), 2.0);
    assert_eq!(check("gateway", "unauthenticated"), 1.0);
    assert_eq!(check("forward_auth_nginx", "allowed"), 1.0);
    assert_eq!(check("forward_auth_nginx", "forbidden"), 1.0);
    assert_eq!(check("forward_auth_nginx", "invalid"), 1.0);
    assert_eq!(check("forward_auth_traefik", "allowed"), 1.0);
    assert_eq!(check("forward_auth_envoy", "unauthenticated"), 1.0);
    assert_eq!(check("introspection", "active"), 1.0);
    assert_eq!(check("introspection", "inactive"), 1.0);
    assert_eq!(check("introspection", "caller_refused"), 1.0);
    let count = |group: &str| {
        moved(
            "keygate_http_request_duration_seconds_count",
            &[("group", group)],
        )
    };
    assert_eq!(count("login"), 3.0);
    assert_eq!(count("gateway"), 3.0);
    assert_eq!(count("forward_auth"), 5.0);
    assert_eq!(count("introspection"), 3.0);
    assert!(count("management") >= 1.0);
    // Buckets are cumulative and end with +Inf = count.
    let inf = value(
        &after,
        "keygate_http_request_duration_seconds_bucket",
        &[("group", "login"), ("le", "+Inf")],
    );
    assert_eq!(
        inf,
        value(
            &after,
            "keygate_http_request_duration_seconds_count",
            &[("group", "login")]
        )
    );
    assert!(
        value(
            &after,
            "keygate_http_request_duration_seconds_sum",
            &[("group", "login")]
        ) > 0.0
    );
    // The cache holds the key made above.
    assert_eq!(value(&after, "keygate_credential_cache_keys", &[]), 1.0);
    assert_eq!(value(&after, "keygate_credential_cache_trusted", &[]), 1.0);
}

#[tokio::test]
async fn deliveries_and_the_outbox_are_counted_and_webhooks_carry_the_delivery_id_as_request_id() {
    let hook = WebhookReceiver::start().await;
    hook.fail_next(1);
    let app = spawn_app_with(
        &[
            "--allow-insecure-webhooks",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        &[("KEYGATE_RETRY_BASE_MS", "200")],
    )
    .await;
    let url = metrics_url(&app).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/webhooks", org.org_id),
            Some(&org.owner),
            Some(
                json!({"url": hook.url(), "events": ["scoped_key.created"], "password": PASSWORD}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    app.scoped_key(
        &org,
        json!({"name": "hooked", "org_permissions": perms(&[("billing_invoices", "read")])}),
    )
    .await;
    let posts = hook
        .wait_until(20, |p| p.iter().any(|p| p.answered == 200))
        .await;
    assert_eq!(posts.len(), 2, "one failure, then delivered");
    for p in &posts {
        assert_eq!(
            p.headers["x-request-id"], p.headers["x-keygate-delivery-id"],
            "a webhook's request id is its delivery's id, the same on every retry"
        );
    }
    let id = posts[0].headers["x-request-id"].clone();
    assert!(
        app.wait_for_log(&format!("request_id={id}"), 10).await,
        "Keygate's log lines of the delivery carry the same id:\n{}",
        app.log()
    );

    // The attempt is recorded after the POST is answered: wait for the count.
    let samples = attempts_reach(&app, &url, "delivered").await;
    let attempts = |outcome: &str| {
        value(
            &samples,
            "keygate_notification_attempts_total",
            &[("channel", "webhook"), ("outcome", outcome)],
        )
    };
    assert_eq!(attempts("delivered"), 1.0);
    assert_eq!(attempts("retry"), 1.0);
    assert_eq!(attempts("gave_up"), 0.0);
    // The owner's mail of the event went out as .eml (no SMTP server given).
    assert!(
        value(
            &samples,
            "keygate_notification_attempts_total",
            &[("channel", "email"), ("outcome", "delivered")],
        ) >= 1.0
    );
    assert_eq!(
        value(
            &samples,
            "keygate_outbox_pending",
            &[("channel", "webhook")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &samples,
            "keygate_outbox_oldest_pending_age_seconds",
            &[("channel", "webhook")]
        ),
        0.0
    );
}

#[tokio::test]
async fn a_pending_delivery_shows_in_the_outbox_gauges() {
    // The receiver is down: the delivery stays pending, retried later.
    let mut hook = WebhookReceiver::start().await;
    hook.stop();
    let app = spawn_app_with(
        &[
            "--allow-insecure-webhooks",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        &[("KEYGATE_RETRY_BASE_MS", "60000")],
    )
    .await;
    let url = metrics_url(&app).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/webhooks", org.org_id),
            Some(&org.owner),
            Some(
                json!({"url": hook.url(), "events": ["scoped_key.created"], "password": PASSWORD}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    app.scoped_key(
        &org,
        json!({"name": "stuck", "org_permissions": perms(&[("billing_invoices", "read")])}),
    )
    .await;
    let samples = attempts_reach(&app, &url, "retry").await;
    assert_eq!(
        value(
            &samples,
            "keygate_outbox_pending",
            &[("channel", "webhook")]
        ),
        1.0
    );
    let age = value(
        &samples,
        "keygate_outbox_oldest_pending_age_seconds",
        &[("channel", "webhook")],
    );
    assert!(age > 0.0 && age < 120.0, "{age}");
}

#[tokio::test]
async fn without_metrics_listen_there_is_no_metrics_listener() {
    let app = spawn_app().await;
    assert!(!app.log().contains("metrics listening"), "{}", app.log());
    let r = app.req(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status, 404);
    let out = app.cli(&["serve", "--metrics-listen", "nowhere"], "");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--metrics-listen nowhere"), "{err}");
}
