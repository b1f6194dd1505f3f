//! Per-key rate limits through the real gateway, every forward-auth endpoint
//! and introspection; the organization's default; and three instances on
//! PostgreSQL settling their counts through a real Redis (this test's own
//! `redis-server`, which it then stops).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::gateway::gateway;
use crate::helpers::*;

/// Straight to stderr, so figures and skips show even when the test passes.
macro_rules! loud {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// A day: the window starts over only at midnight UTC, so the counts below
/// never straddle two windows.
const DAY: u32 = 86_400;

fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

async fn verify(app: &TestApp, token: &str) -> Resp {
    app.send(
        app.http
            .get(format!("{}/auth/verify", app.base))
            .bearer_auth(token)
            .header("x-original-method", "GET")
            .header("x-original-uri", "/api/v1/balances/current"),
    )
    .await
}

fn balances(org: &Org, limit: Value) -> Value {
    json!({"name": "limited", "org_permissions": [],
        "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])},
        "rate_limit": limit})
}

#[tokio::test]
async fn a_key_over_its_limit_gets_429_with_retry_after_at_the_gateway_and_every_forward_auth() {
    let g = gateway(&["--introspection-secret", "introspect-me"]).await;
    let (app, org) = (&g.app, &g.org);
    let key = app
        .scoped_key(
            org,
            balances(org, json!({"requests": 5, "per_seconds": DAY})),
        )
        .await;
    assert_eq!(
        key["rate_limit"],
        json!({"requests": 5, "per_seconds": DAY})
    );
    let token = app.token(&key, Some(&org.accounts[0])).await;

    // Introspection reports the limit and does not count.
    for _ in 0..3 {
        let r = app
            .send(
                app.http
                    .post(format!("{}/oauth/introspect", app.base))
                    .basic_auth("gw", Some("introspect-me"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("token={token}")),
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body["rate_limit"],
            json!({"requests": 5, "per_seconds": DAY})
        );
    }

    for left in (0..5).rev() {
        let r = verify(app, &token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            header(&r, "ratelimit-policy"),
            Some(format!("\"default\";q=5;w={DAY}").as_str())
        );
        let state = header(&r, "ratelimit").unwrap();
        assert!(
            state.starts_with(&format!("\"default\";r={left};t=")),
            "{state}"
        );
    }
    let r = verify(app, &token).await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "too_many_requests"));
    let retry: u32 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!((1..=DAY).contains(&retry));
    assert!(
        header(&r, "ratelimit")
            .unwrap()
            .starts_with("\"default\";r=0;t=")
    );
    assert!(header(&r, "ratelimit-policy").is_some());

    // Every other surface refuses it too.
    let gw = app
        .send(
            app.http
                .get(format!("{}/api/v1/balances/current", app.base))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!((gw.status.as_u16(), gw.code()), (429, "too_many_requests"));
    assert!(header(&gw, "retry-after").is_some());
    let traefik = app
        .send(
            app.http
                .get(format!("{}/auth/traefik", app.base))
                .bearer_auth(&token)
                .header("x-forwarded-method", "GET")
                .header("x-forwarded-uri", "/api/v1/balances/current"),
        )
        .await;
    assert_eq!(traefik.status, 429);
    let envoy = app
        .send(
            app.http
                .get(format!("{}/auth/envoy/api/v1/balances/current", app.base))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(envoy.status, 429);

    // A request the scope refuses is 403, and does not count.
    let other = app
        .scoped_key(
            org,
            balances(org, json!({"requests": 1, "per_seconds": DAY})),
        )
        .await;
    let t2 = app.token(&other, Some(&org.accounts[0])).await;
    let post = app
        .send(
            app.http
                .post(format!("{}/auth/envoy/api/v1/balances/current", app.base))
                .bearer_auth(&t2),
        )
        .await;
    assert_eq!(post.status, 403);
    let ok = app
        .send(
            app.http
                .get(format!("{}/api/v1/balances/current", app.base))
                .bearer_auth(&t2),
        )
        .await;
    assert_eq!(ok.status, 200, "the gateway allows it: {}", ok.body);
    assert_eq!(
        header(&ok, "ratelimit").map(|s| &s[..14]),
        Some("\"default\";r=0;")
    );

    // Lifting the limit bites at once; a key without one sends no headers.
    let path = format!("/dev/v1/orgs/{}/scoped-keys/{}", org.org_id, cid(&key));
    let r = app
        .req(
            Method::PATCH,
            &path,
            Some(&org.owner),
            Some(json!({"rate_limit": null, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["rate_limit"], Value::Null);
    let r = verify(app, &token).await;
    assert_eq!(r.status, 200);
    assert!(header(&r, "ratelimit").is_none() && header(&r, "ratelimit-policy").is_none());
}

#[tokio::test]
async fn bad_limits_are_400_naming_the_field_and_the_org_default_and_admin_keys_follow() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let base = format!("/dev/v1/orgs/{}", org.org_id);
    for (limit, field) in [
        (
            json!({"requests": 0, "per_seconds": 60}),
            "rate_limit.requests",
        ),
        (
            json!({"requests": -5, "per_seconds": 60}),
            "rate_limit.requests",
        ),
        (
            json!({"requests": 5, "per_seconds": 0}),
            "rate_limit.per_seconds",
        ),
        (
            json!({"requests": 5, "per_seconds": 86_401}),
            "rate_limit.per_seconds",
        ),
    ] {
        let mut body = balances(&org, limit.clone());
        body["password"] = json!(PASSWORD);
        let r = app
            .req(
                Method::POST,
                &format!("{base}/scoped-keys"),
                Some(&org.owner),
                Some(body),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "validation_error"),
            "{limit}"
        );
        assert_eq!(r.body["source"], field, "{limit}");
        let r = app
            .req(
                Method::PATCH,
                &format!("{base}/rate-limit"),
                Some(&org.owner),
                Some(json!({"rate_limit": limit, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.body["source"], field, "org default {limit}");
    }
    let listed = app
        .req(
            Method::GET,
            &format!("{base}/api-keys"),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(
        listed.body["scoped_keys"],
        json!([]),
        "nothing half-written"
    );

    // The organization's default covers keys without their own limit.
    let r = app
        .req(
            Method::PATCH,
            &format!("{base}/rate-limit"),
            Some(&org.owner),
            Some(json!({"rate_limit": {"requests": 2, "per_seconds": DAY}, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .req(
            Method::GET,
            &format!("{base}/rate-limit"),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(
        r.body["rate_limit"],
        json!({"requests": 2, "per_seconds": DAY})
    );
    let plain = app.scoped_key(&org, balances(&org, Value::Null)).await;
    assert_eq!(plain["rate_limit"], Value::Null);
    let token = app.token(&plain, Some(&org.accounts[0])).await;
    let codes: Vec<u16> = futures_codes(&app, &token, 3).await;
    assert_eq!(codes, [200, 200, 429]);

    // An admin key's limit: set on creation, changed with PATCH.
    let r = app
        .req(
            Method::POST,
            &format!("{base}/admin-keys"),
            Some(&org.owner),
            Some(json!({"owner_id": org.accounts[0], "rate_limit": {"requests": 1, "per_seconds": DAY}, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["rate_limit"],
        json!({"requests": 1, "per_seconds": DAY})
    );
    let admin = r.body.clone();
    let token = app.token(&admin, None).await;
    assert_eq!(futures_codes(&app, &token, 2).await, [200, 429]);
    let r = app
        .req(
            Method::PATCH,
            &format!("{base}/admin-keys/{}", cid(&admin)),
            Some(&org.owner),
            Some(json!({"rate_limit": {"requests": 3, "per_seconds": DAY}, "password": "wrong"})),
        )
        .await;
    assert_eq!(r.status, 401, "the password is checked");
    let r = app
        .req(
            Method::PATCH,
            &format!("{base}/admin-keys/{}", cid(&admin)),
            Some(&org.owner),
            Some(json!({"rate_limit": {"requests": 3, "per_seconds": DAY}, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["rate_limit"]["requests"], 3);
    assert_eq!(futures_codes(&app, &token, 3).await, [200, 200, 429]);
    let events = app
        .req(
            Method::GET,
            &format!("{base}/audit-events"),
            Some(&org.owner),
            None,
        )
        .await;
    assert!(events.body.to_string().contains("admin_key.updated"));
}

async fn futures_codes(app: &TestApp, token: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(verify(app, token).await.status.as_u16());
    }
    out
}

/// This test's own `redis-server` on a free port, stopped when dropped.
pub(crate) struct Redis {
    child: Child,
    pub(crate) port: u16,
}

impl Redis {
    pub(crate) async fn start(test: &str) -> Option<Redis> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true and redis-server is missing (apt-get install redis-server)");
            }
            loud!("SKIPPED: {test}: redis-server is not installed (apt-get install redis-server)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let redis = Redis { child, port };
        let what = format!("redis-server listening on port {port}");
        eventually(&what, Duration::from_secs(5), async || {
            std::net::TcpStream::connect(("127.0.0.1", port))
        })
        .await;
        Some(redis)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn three_instances_share_one_limit_through_redis_and_keep_answering_without_it() {
    let test = "rate limits: three instances and Redis";
    let Some(mut redis) = Redis::start(test).await else {
        return;
    };
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let Some((apps, _dir)) = crate::multi::cluster(test, &["--redis-url", &url]).await else {
        return;
    };
    let a = &apps[0];
    let org = a.create_org("Acme", "owner@acme.test", &["Acme HK"]).await;
    const LIMIT: usize = 60;
    let key = a
        .scoped_key(
            &org,
            balances(&org, json!({"requests": LIMIT, "per_seconds": DAY})),
        )
        .await;
    let token = a.token(&key, Some(&org.accounts[0])).await;

    // Rounds of ten calls on each instance, a pause for the counts to
    // settle between rounds, until a whole round is refused.
    let mut allowed = 0;
    for round in 0.. {
        assert!(round < 20, "never refused: {allowed} allowed");
        let mut this_round = 0;
        for app in &apps {
            for _ in 0..10 {
                let r = verify(app, &token).await;
                match r.status.as_u16() {
                    200 => this_round += 1,
                    429 => {}
                    s => panic!("unexpected {s}: {}", r.body),
                }
            }
        }
        allowed += this_round;
        if this_round == 0 {
            break;
        }
        // Fixed: the figure is what three instances let through at this pace.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    loud!(
        "FIGURE: 3 instances + Redis, limit {LIMIT}/window: {allowed} allowed ({:+.1} %)",
        (allowed as f64 - LIMIT as f64) * 100.0 / LIMIT as f64
    );
    let (lo, hi) = (LIMIT * 9 / 10, LIMIT * 11 / 10);
    assert!(
        (lo..=hi).contains(&allowed),
        "{allowed} allowed, limit {LIMIT}"
    );

    // Redis stops: every instance keeps answering, enforcing the limit alone.
    redis.stop();
    for app in &apps {
        assert!(
            app.wait_for_log("limits are per instance", 10).await,
            "a warning says limits are per instance now"
        );
    }
    let five = a
        .scoped_key(
            &org,
            balances(&org, json!({"requests": 5, "per_seconds": DAY})),
        )
        .await;
    let token = a.token(&five, Some(&org.accounts[0])).await;
    for app in &apps {
        let mut codes = Vec::new();
        for _ in 0..7 {
            codes.push(verify(app, &token).await.status.as_u16());
        }
        assert_eq!(codes, [200, 200, 200, 200, 200, 429, 429], "per instance");
    }
}
