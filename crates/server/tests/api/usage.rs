//! Usage you can see: calls per key (allowed, refused by reason) through the
//! real gateway and forward-auth, counted in memory and flushed in batches;
//! each key's last use; `*.unused` once per idle key, across restarts.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::gateway::gateway;
use crate::helpers::*;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn rfc3339(ms: i64) -> String {
    // Whole seconds, UTC, through the server's own formatter's shape.
    let secs = ms / 1000;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Sums of a usage answer: (allowed, refused by reason).
fn totals(body: &Value) -> (u64, Value) {
    let mut allowed = 0;
    let mut refused =
        json!({"scope": 0, "rate_limit": 0, "expired": 0, "revoked": 0, "network": 0});
    for b in body["buckets"].as_array().unwrap() {
        allowed += b["allowed"].as_u64().unwrap();
        for r in ["scope", "rate_limit", "expired", "revoked", "network"] {
            let n = refused[r].as_u64().unwrap() + b["refused"][r].as_u64().unwrap();
            refused[r] = n.into();
        }
    }
    (allowed, refused)
}

async fn usage(app: &TestApp, org: &Org, query: &str) -> Resp {
    app.req(
        Method::GET,
        &format!("/dev/v1/orgs/{}/usage?{query}", org.org_id),
        Some(&org.owner),
        None,
    )
    .await
}

/// Polls until the usage of `query` sums to `want` (the flush runs every
/// second here), then returns the answer.
async fn usage_reaching(app: &TestApp, org: &Org, query: &str, want: &(u64, Value)) -> Value {
    let what = format!("usage of {query} reaching {want:?}");
    eventually(&what, Duration::from_secs(20), async || {
        let r = usage(app, org, query).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let got = totals(&r.body);
        if &got == want {
            Ok(r.body)
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await
}

/// Waits until the lifecycle sweeper's first round is behind us, so that with
/// an hour's interval it does not run again while the test moves the clock by
/// seconds. That round starts after a jitter of up to 1.02 s from the start:
/// a key expiring in three days, made now, gets its 7-day warning from it,
/// unless the round came before the key. No warning 1.5 s after the key was
/// made means exactly that (the jitter is over), so the next round is an hour
/// away either way.
async fn first_sweep_done(app: &TestApp, org: &Org, mut probe: Value) {
    probe["expires_at"] = keygate_core::time::format_rfc3339(now_ms() + 3 * DAY_MS).into();
    let probe = app.scoped_key(org, probe).await;
    let query = format!("client_id={}&limit=20", cid(&probe));
    // Either outcome will do: a bounded wait, not an assertion.
    let _ = poll(Duration::from_millis(1500), async || {
        let events = app.audit_events(org, &query).await;
        if events.iter().any(|e| e["action"] == "scoped_key.expiring") {
            Ok(())
        } else {
            Err(())
        }
    })
    .await;
}

#[tokio::test]
async fn usage_counts_rate_limit_expiry_and_ended_grace_refusals_by_reason() {
    // The lifecycle sweeper runs only at start here: an ended grace is still
    // known when its old token comes back.
    let g = gateway(&[
        "--usage-flush-interval",
        "1",
        "--lifecycle-interval",
        "3600",
    ])
    .await;
    let (app, org) = (&g.app, &g.org);
    let key = |name: &str| json!({"name": name, "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}});
    first_sweep_done(app, org, key("probe")).await;
    let fa = |token: String| {
        let rb = app
            .http
            .get(format!("{}/auth/verify", app.base))
            .bearer_auth(token)
            .header("x-original-method", "GET")
            .header("x-original-uri", "/api/v1/balances/current");
        async move { app.send(rb).await.status.as_u16() }
    };
    let gw = |token: String| {
        let rb = app
            .http
            .get(format!("{}/api/v1/balances/current", app.base))
            .bearer_auth(token);
        async move { app.send(rb).await.status.as_u16() }
    };

    // Rate limited: 2 allowed, then 2 refusals (forward-auth, gateway) that
    // count as rate_limit and not as allowed.
    let mut limited = key("limited");
    limited["rate_limit"] = json!({"requests": 2, "per_seconds": 86_400});
    let limited = app.scoped_key(org, limited).await;
    let token = app.token(&limited, None).await;
    assert_eq!(fa(token.clone()).await, 200);
    assert_eq!(gw(token.clone()).await, 200);
    assert_eq!(fa(token.clone()).await, 429);
    assert_eq!(gw(token.clone()).await, 429);

    // An expiring key: allowed, then refused as expired once it expired.
    let mut short = key("short-lived");
    short["expires_at"] = keygate_core::time::format_rfc3339(now_ms() + 2_000).into();
    let short = app.scoped_key(org, short).await;
    let short_token = app.token(&short, None).await;
    assert_eq!(fa(short_token.clone()).await, 200);

    // A grace period: the old token works during it, and is refused as
    // expired after it; a regenerate without grace makes it revoked.
    let rolling = app.scoped_key(org, key("rolling")).await;
    let old_token = app.token(&rolling, None).await;
    let regenerate_path = format!(
        "/dev/v1/orgs/{}/scoped-keys/{}/regenerate",
        org.org_id,
        cid(&rolling)
    );
    let regenerate =
        |body: Value| app.req(Method::POST, &regenerate_path, Some(&org.owner), Some(body));
    let r = regenerate(json!({"password": PASSWORD, "previous_secret_expires_in": 2})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let grace_end =
        keygate_core::time::parse_rfc3339(r.body["previous_secret_expires_at"].as_str().unwrap())
            .unwrap();
    assert_eq!(fa(old_token.clone()).await, 200);

    app.move_clock_past(
        grace_end
            .max(keygate_core::time::parse_rfc3339(short["expires_at"].as_str().unwrap()).unwrap()),
    )
    .await;
    assert_eq!(fa(short_token.clone()).await, 401);
    assert_eq!(gw(short_token).await, 401);
    assert_eq!(fa(old_token.clone()).await, 401);
    let regenerated_token = app.token(&r.body, None).await;
    let r = regenerate(json!({"password": PASSWORD})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(gw(regenerated_token).await, 401);

    let span = format!(
        "from={}&to={}",
        rfc3339(now_ms() - 3_600_000),
        rfc3339(now_ms() + 600_000)
    );
    let of = |k: &Value| format!("client_id={}&granularity=minute&{span}", cid(k));
    let zero = json!({"scope": 0, "rate_limit": 0, "expired": 0, "revoked": 0, "network": 0});
    let with = |reason: &str, n: u64| {
        let mut v = zero.clone();
        v[reason] = n.into();
        v
    };
    usage_reaching(app, org, &of(&limited), &(2, with("rate_limit", 2))).await;
    usage_reaching(app, org, &of(&short), &(1, with("expired", 2))).await;
    let mut rolled = with("expired", 1);
    rolled["revoked"] = 1.into();
    usage_reaching(app, org, &of(&rolling), &(1, rolled)).await;
}

#[tokio::test]
async fn usage_counts_equal_the_calls_sent_through_gateway_and_forward_auth() {
    let g = gateway(&["--usage-flush-interval", "1"]).await;
    let (app, org) = (&g.app, &g.org);
    let sk = app
        .scoped_key(org, json!({"name": "counted", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let other = app
        .scoped_key(org, json!({"name": "other", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let token = app.token(&sk, None).await;
    let other_token = app.token(&other, None).await;
    let fa = |method: &'static str, uri: &'static str, token: String| {
        let rb = app
            .http
            .get(format!("{}/auth/verify", app.base))
            .bearer_auth(token)
            .header("x-original-method", method)
            .header("x-original-uri", uri);
        async move { app.send(rb).await.status.as_u16() }
    };
    // 3 allowed and 2 refused by scope at forward-auth, 2 allowed and 1
    // refused by scope at the gateway; the other key: 1 allowed.
    for _ in 0..3 {
        assert_eq!(
            fa("GET", "/api/v1/balances/current", token.clone()).await,
            200
        );
    }
    assert_eq!(
        fa("POST", "/api/v1/balances/current", token.clone()).await,
        403
    );
    assert_eq!(
        fa("GET", "/api/v1/pa/payment_intents/1", token.clone()).await,
        403
    );
    for _ in 0..2 {
        let r = app
            .send(
                app.http
                    .get(format!("{}/api/v1/balances/current", app.base))
                    .bearer_auth(&token),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let r = app
        .send(
            app.http
                .post(format!("{}/api/v1/balances/current", app.base))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        fa("GET", "/api/v1/balances/current", other_token.clone()).await,
        200
    );
    // Logins are not calls; a garbage token names no key and is counted nowhere.
    app.token(&sk, None).await;
    assert_eq!(
        fa("GET", "/api/v1/balances/current", "x.y.z".into()).await,
        401
    );

    // Regenerated: the old token is refused as revoked (twice).
    let regen = app
        .req(
            Method::POST,
            &format!(
                "/dev/v1/orgs/{}/scoped-keys/{}/regenerate",
                org.org_id,
                cid(&sk)
            ),
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(regen.status, 200, "{}", regen.body);
    for _ in 0..2 {
        assert_eq!(
            fa("GET", "/api/v1/balances/current", token.clone()).await,
            401
        );
    }

    let span = format!(
        "from={}&to={}",
        rfc3339(now_ms() - 3_600_000),
        rfc3339(now_ms() + 600_000)
    );
    let want = (
        5,
        json!({"scope": 3, "rate_limit": 0, "expired": 0, "revoked": 2, "network": 0}),
    );
    let body = usage_reaching(
        app,
        org,
        &format!("client_id={}&granularity=minute&{span}", cid(&sk)),
        &want,
    )
    .await;
    // Every minute of the span is a bucket, in order, empty ones with zeros.
    let buckets = body["buckets"].as_array().unwrap();
    assert!((70..=72).contains(&buckets.len()), "{}", buckets.len());
    assert!(buckets[0]["start"].as_str().unwrap().ends_with(":00.000Z"));
    // The whole organization: both keys; by hour and by day the same sums.
    let org_want = (
        6,
        json!({"scope": 3, "rate_limit": 0, "expired": 0, "revoked": 2, "network": 0}),
    );
    usage_reaching(app, org, &format!("granularity=hour&{span}"), &org_want).await;
    let day_span = format!(
        "from={}&to={}",
        rfc3339(now_ms() - 2 * DAY_MS),
        rfc3339(now_ms() + DAY_MS)
    );
    usage_reaching(app, org, &format!("granularity=day&{day_span}"), &org_want).await;
    // The default: the last 24 hours by hour.
    let r = usage(app, org, &format!("client_id={}", cid(&other))).await;
    assert_eq!(r.status, 200);
    assert_eq!(totals(&r.body).0, 1);
    assert!((24..=25).contains(&r.body["buckets"].as_array().unwrap().len()));

    // Bad input names the parameter; another organization's key is not found.
    for (q, field) in [
        ("granularity=week", "granularity"),
        ("from=yesterday", "from"),
        ("to=2026-02-30T00:00:00Z", "to"),
        ("from=2026-05-12T00:00:00Z&to=2026-05-11T00:00:00Z", "from"),
        (
            "granularity=minute&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z",
            "from",
        ),
        ("colour=red", "colour"),
    ] {
        let r = usage(app, org, q).await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert_eq!(r.code(), "validation_error");
        assert_eq!(r.body["source"], field, "{q}: {}", r.body);
    }
    let stranger = app.create_org("Other", "owner@other.test", &["X"]).await;
    let r = usage(app, &stranger, &format!("client_id={}", cid(&sk))).await;
    assert_eq!(r.status, 404);
    // Read-only roles may not see usage.
    let viewer = app.invite_member(org, "viewer@acme.test", "viewer").await;
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/usage", org.org_id),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn last_used_shows_the_time_and_address_of_a_login() {
    let app = spawn_app_with(&["--usage-flush-interval", "1"], &[]).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["HK", "UK"])
        .await;
    let sk = app
        .scoped_key(&org, json!({"name": "lu", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let path = format!("/dev/v1/orgs/{}/scoped-keys/{}", org.org_id, cid(&sk));
    let before = app.req(Method::GET, &path, Some(&org.owner), None).await;
    assert_eq!(before.body["last_used_at"], Value::Null);
    assert_eq!(before.body["last_used_ip"], Value::Null);
    let t0 = now_ms();
    app.token(&sk, None).await;
    let seen = eventually("last_used_at", Duration::from_secs(20), async || {
        let r = app.req(Method::GET, &path, Some(&org.owner), None).await;
        if r.body["last_used_at"].is_string() {
            Ok(r.body)
        } else {
            Err(r.body)
        }
    })
    .await;
    assert_eq!(seen["last_used_ip"], "127.0.0.1");
    let at = seen["last_used_at"].as_str().unwrap();
    assert!(at >= rfc3339(t0 - 1000).as_str(), "{at}");
    // The list says the same.
    let list = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/api-keys", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    let row = list.body["scoped_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["client_id"] == cid(&sk))
        .unwrap()
        .clone();
    assert_eq!(row["last_used_at"], at);
    assert_eq!(row["last_used_ip"], "127.0.0.1");
}

#[tokio::test]
async fn counts_not_yet_flushed_are_written_at_a_clean_shutdown() {
    // A flush interval longer than the test: only the shutdown writes.
    let mut g = gateway(&["--usage-flush-interval", "10"]).await;
    let sk = g
        .app
        .scoped_key(&g.org, json!({"name": "s", "account_permissions": {"accounts": [&g.org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let token = g.app.token(&sk, None).await;
    for _ in 0..4 {
        let r = g
            .app
            .send(
                g.app
                    .http
                    .get(format!("{}/api/v1/balances/current", g.app.base))
                    .bearer_auth(&token),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    g.app.terminate().await;
    let args: Vec<String> = vec!["--usage-flush-interval".into(), "10".into()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    g.app.restart_with(Some(&args), None);
    let session = g.app.sign_in("owner@acme.test", PASSWORD).await;
    let r = g
        .app
        .req(
            Method::GET,
            &format!(
                "/dev/v1/orgs/{}/usage?client_id={}&granularity=day",
                g.org.org_id,
                cid(&sk)
            ),
            Some(&session),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(totals(&r.body).0, 4, "{}", r.body);
}

mod unused;
