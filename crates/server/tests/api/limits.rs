//! Failure limits under concurrency, known devices and usual addresses, and
//! the bound on password hashing (issue "Trust", items 4 and 9; a known
//! browser behind a shared address: "Trust, round two", item 6).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const WRONG: &str = "wrong-password-123456";

/// A sign-in through the JSON API from `ip` (via `X-Forwarded-For`, for an app
/// started with `--trusted-proxy 127.0.0.1`) with an optional device cookie.
pub(crate) async fn sign_in_from(
    app: &TestApp,
    email: &str,
    password: &str,
    ip: Option<&str>,
    device: Option<&str>,
) -> Resp {
    let mut rb = app
        .http
        .post(format!("{}/dev/v1/sessions", app.base))
        .json(&json!({"email": email, "password": password}));
    if let Some(ip) = ip {
        rb = rb.header("x-forwarded-for", ip);
    }
    if let Some(d) = device {
        rb = rb.header("cookie", format!("keygate_device={d}"));
    }
    app.send(rb).await
}

/// The `keygate_device` cookie's value from a response's `Set-Cookie`.
pub(crate) fn device_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("keygate_device="))
        .map(|c| c.split(';').next().unwrap_or("").to_owned())
}

/// Sends all requests at once; the answers in order.
pub(crate) async fn all_at_once(requests: Vec<reqwest::RequestBuilder>) -> Vec<Resp> {
    let mut set = tokio::task::JoinSet::new();
    for (i, rb) in requests.into_iter().enumerate() {
        set.spawn(async move {
            let r = rb.send().await.expect("every request gets an answer");
            let status = r.status();
            let headers = r.headers().clone();
            let body = r.json::<Value>().await.unwrap_or(Value::Null);
            (
                i,
                Resp {
                    status,
                    headers,
                    body,
                },
            )
        });
    }
    let mut out: Vec<(usize, Resp)> = set.join_all().await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

fn sign_in_request(
    app: &TestApp,
    email: &str,
    password: &str,
    ip: Option<&str>,
) -> reqwest::RequestBuilder {
    let rb = app
        .http
        .post(format!("{}/dev/v1/sessions", app.base))
        .json(&json!({"email": email, "password": password}));
    match ip {
        Some(ip) => rb.header("x-forwarded-for", ip),
        None => rb,
    }
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn thirty_concurrent_wrong_sign_ins_get_only_ten_passwords_checked() {
    let app = spawn_app().await;
    app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let attempts = (0..30)
        .map(|_| sign_in_request(&app, "owner@acme.test", WRONG, None))
        .collect();
    let answers = all_at_once(attempts).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        (count(&statuses, 401), count(&statuses, 429)),
        (10, 20),
        "{statuses:?}"
    );
    let limited = answers.iter().find(|r| r.status == 429).unwrap();
    assert_eq!(limited.code(), "too_many_requests");
    assert!(limited.headers.get("retry-after").is_some());

    // The right password from a browser the server does not know: still refused.
    let r = sign_in_from(&app, "owner@acme.test", PASSWORD, None, None).await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "too_many_requests"));
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();

    // Nobody is locked out for good: once the window has passed, the right
    // password works again.
    app.advance_clock(Duration::from_secs(wait - 2)).await;
    let r = sign_in_from(&app, "owner@acme.test", PASSWORD, None, None).await;
    assert_eq!(r.status, 429, "still inside the window");
    app.advance_clock(Duration::from_secs(3)).await;
    let r = sign_in_from(&app, "owner@acme.test", PASSWORD, None, None).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn thirty_concurrent_wrong_confirmations_get_only_ten_passwords_checked() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = app
        .scoped_key(
            &org,
            json!({"name": "k", "account_permissions": {"accounts": [org.accounts[0]],
                "resources": perms(&[("balances", "read")])}}),
        )
        .await;
    let path = format!(
        "/dev/v1/orgs/{}/scoped-keys/{}/regenerate",
        org.org_id,
        cid(&key)
    );
    let attempts = (0..30)
        .map(|_| {
            app.http
                .post(format!("{}{path}", app.base))
                .bearer_auth(&org.owner.token)
                .json(&json!({"password": WRONG}))
        })
        .collect();
    let statuses: Vec<u16> = all_at_once(attempts)
        .await
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(
        (count(&statuses, 401), count(&statuses, 429)),
        (10, 20),
        "{statuses:?}"
    );
    let r = app
        .req(
            Method::POST,
            &path,
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "too_many_requests"));
    // Nothing was regenerated: the old secret still logs in.
    assert_eq!(app.login(cid(&key), secret(&key), None).await.status, 201);
}

#[tokio::test]
async fn a_stranger_who_knows_the_email_cannot_lock_the_owner_out() {
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.1"], &[]).await;
    app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let email = "owner@acme.test";
    // The owner signs in from home (10.0.0.1) and keeps the device cookie.
    let home = sign_in_from(&app, email, PASSWORD, Some("10.0.0.1"), None).await;
    assert_eq!(home.status, 201, "{}", home.body);
    let device = device_cookie(&home.headers).expect("keygate_device cookie set");

    // A stranger elsewhere uses up the email's failures.
    for _ in 0..10 {
        let r = sign_in_from(&app, email, WRONG, Some("203.0.113.9"), None).await;
        assert_eq!(r.status, 401);
    }
    let r = sign_in_from(&app, email, PASSWORD, Some("203.0.113.9"), None).await;
    assert_eq!(r.status, 429, "the email's limit holds against spraying");
    // From a new address without the cookie, even the owner is refused...
    let r = sign_in_from(&app, email, PASSWORD, Some("198.51.100.7"), None).await;
    assert_eq!(r.status, 429);
    // ...a forged cookie does not help...
    // Its last character changed (to another one: the signature's last
    // base64url character is '0' one time in sixteen).
    let other = if device.ends_with('0') { 'A' } else { '0' };
    let forged = format!("{}{other}", &device[..device.len() - 1]);
    assert_ne!(forged, device);
    let r = sign_in_from(&app, email, PASSWORD, Some("198.51.100.7"), Some(&forged)).await;
    assert_eq!(r.status, 429);
    // ...but the known browser signs in from anywhere, and so does the owner's
    // usual address without it.
    let r = sign_in_from(&app, email, PASSWORD, Some("198.51.100.7"), Some(&device)).await;
    assert_eq!(r.status, 201, "known device: {}", r.body);
    assert_eq!(device_cookie(&r.headers).as_deref(), Some(device.as_str()));
    let r = sign_in_from(&app, email, PASSWORD, Some("10.0.0.1"), None).await;
    assert_eq!(r.status, 201, "usual address: {}", r.body);

    // Failures from the known browser have a limit of their own.
    for _ in 0..10 {
        let r = sign_in_from(&app, email, WRONG, Some("10.0.0.2"), Some(&device)).await;
        assert_eq!(r.status, 401);
    }
    let r = sign_in_from(&app, email, PASSWORD, Some("10.0.0.2"), Some(&device)).await;
    assert_eq!(r.status, 429);
    // A device cookie of one user is nothing for another user's email.
    let other = sign_in_from(
        &app,
        "nobody@acme.test",
        WRONG,
        Some("10.0.0.3"),
        Some(&device),
    )
    .await;
    assert_eq!(other.status, 401);
}

#[tokio::test]
async fn the_owner_with_a_known_device_signs_in_beside_an_attacker_on_the_same_address() {
    let app = spawn_app().await;
    app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let first = sign_in_from(&app, "owner@acme.test", PASSWORD, None, None).await;
    let device = device_cookie(&first.headers).expect("keygate_device cookie set");
    for _ in 0..12 {
        sign_in_from(&app, "owner@acme.test", WRONG, None, None).await;
    }
    let r = sign_in_from(&app, "owner@acme.test", PASSWORD, None, None).await;
    assert_eq!(r.status, 429);
    let r = sign_in_from(&app, "owner@acme.test", PASSWORD, None, Some(&device)).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn the_developer_app_sets_the_known_device_cookie_on_sign_in() {
    let app = spawn_app().await;
    app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let page = app
        .http
        .get(format!("{}/app/sign-in", app.base))
        .send()
        .await
        .unwrap();
    let pre = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("keygate_presession="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap();
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .post(format!("{}/app/sign-in", app.base))
        .header("cookie", format!("keygate_presession={pre}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={csrf}&email=owner%40acme.test&password={PASSWORD}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let device = device_cookie(r.headers()).expect("keygate_device cookie set");
    let set: Vec<_> = r.headers().get_all("set-cookie").iter().collect();
    assert!(
        set.iter()
            .any(|c| c.to_str().unwrap().contains("HttpOnly; SameSite=Strict")),
        "{set:?}"
    );
    // The same cookie makes the JSON API treat this browser as known.
    for _ in 0..10 {
        sign_in_from(&app, "owner@acme.test", WRONG, None, None).await;
    }
    let r = sign_in_from(&app, "owner@acme.test", PASSWORD, None, Some(&device)).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// Peak resident memory of the server so far, in MiB (Linux).
fn peak_rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[tokio::test]
async fn forty_concurrent_sign_ins_all_get_an_answer_and_memory_stays_bounded() {
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.1"], &[]).await;
    app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let attempts = (0..40)
        .map(|i| {
            let password = if i % 2 == 0 { PASSWORD } else { WRONG };
            let ip = format!("10.1.0.{i}");
            sign_in_request(&app, "owner@acme.test", password, Some(&ip))
                .timeout(std::time::Duration::from_secs(60))
        })
        .collect();
    for r in all_at_once(attempts).await {
        let status = r.status.as_u16();
        assert!(
            [201, 401, 429, 503].contains(&status),
            "unexpected {status}: {}",
            r.body
        );
        if status == 503 {
            assert!(r.headers.get("retry-after").is_some());
            assert_eq!(r.code(), "unavailable");
        }
    }
    // Still up and signing in.
    app.sign_in("owner@acme.test", PASSWORD).await;
    // Each check needs 19 MiB; they run a few at a time, not 40 at once.
    if let Some(peak) = peak_rss_mib(app.pid()) {
        eprintln!("peak resident memory after 40 concurrent sign-ins: {peak} MiB");
        assert!(peak < 400, "peak resident memory {peak} MiB");
    }
}

#[tokio::test]
async fn fifty_failures_from_a_shared_address_do_not_keep_a_known_browser_out() {
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.1"], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    app.invite_member(&org, "dev@acme.test", "developer").await;
    // The owner and a colleague sign in at the office, behind one NAT address:
    // both browsers are known; the colleague has two-factor on.
    let office = "198.51.100.20";
    let first = sign_in_from(&app, "owner@acme.test", PASSWORD, Some(office), None).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let owner_device = device_cookie(&first.headers).unwrap();
    let first = sign_in_from(&app, "dev@acme.test", PASSWORD, Some(office), None).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let dev_device = device_cookie(&first.headers).unwrap();
    let dev = Session {
        token: first.body["session_token"].as_str().unwrap().to_owned(),
        email: "dev@acme.test".into(),
    };
    let (secret, _) = crate::two_factor::enrol(&app, &dev).await;

    // Someone else behind the same address fails fifty sign-ins.
    for i in 0..50 {
        let email = format!("guess{}@acme.test", i % 5);
        let r = sign_in_from(&app, &email, WRONG, Some(office), None).await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    // The address is refused to every browser it does not know, the owner's
    // usual address included, and a genuine cookie of another user or a
    // forged one does not open it for this email: no more guessing from here.
    for device in [None, Some(dev_device.as_str()), Some("usr_x.dev.00")] {
        let r = sign_in_from(&app, "owner@acme.test", PASSWORD, Some(office), device).await;
        assert_eq!((r.status.as_u16(), r.code()), (429, "too_many_requests"));
    }
    let r = sign_in_from(&app, "guess0@acme.test", WRONG, Some(office), None).await;
    assert_eq!(r.status, 429);

    // The owner's known browser still signs in, and so does the colleague's,
    // code included.
    let r = sign_in_from(
        &app,
        "owner@acme.test",
        PASSWORD,
        Some(office),
        Some(&owner_device),
    )
    .await;
    assert_eq!(r.status, 201, "the owner's known browser: {}", r.body);
    let r = sign_in_from(
        &app,
        "dev@acme.test",
        PASSWORD,
        Some(office),
        Some(&dev_device),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let challenge = r.body["challenge"].as_str().unwrap().to_owned();
    app.remember(&challenge);
    let r = app
        .send(
            app.http
                .post(format!("{}/dev/v1/sessions/two-factor", app.base))
                .header("x-forwarded-for", office)
                .header("cookie", format!("keygate_device={dev_device}"))
                .json(&json!({"challenge": challenge,
                    "code": crate::two_factor::code(&secret, 1)})),
        )
        .await;
    assert_eq!(r.status, 201, "the colleague's code: {}", r.body);

    // Guessing from a known browser keeps its own limit, reserved before the
    // password is checked: 30 at once get 10 checked.
    let attempts = (0..30)
        .map(|_| {
            app.http
                .post(format!("{}/dev/v1/sessions", app.base))
                .header("x-forwarded-for", office)
                .header("cookie", format!("keygate_device={owner_device}"))
                .json(&json!({"email": "owner@acme.test", "password": WRONG}))
        })
        .collect();
    let statuses: Vec<u16> = all_at_once(attempts)
        .await
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(
        (count(&statuses, 401), count(&statuses, 429)),
        (10, 20),
        "{statuses:?}"
    );
}
