//! Second factors cannot be locked out or skipped (issue "Trust, round two",
//! item 2): wrong codes are limited per challenge and per user, never by the
//! per-email bucket strangers fill; a session records how it was made and an
//! organization's policy asks that of the session; the sealed TOTP secret is
//! bound to its user. TOTP codes are computed here from the secret.

use keygate_core::crypto::{Pepper, hex, hmac_sha256, random_bytes, sha256};
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;
use crate::limits::{device_cookie, sign_in_from};
use crate::two_factor::{challenge, code, enrol, second_step, sign_in_with_code, wrong_code};

const WRONG: &str = "wrong-password-123456";

/// The second sign-in step from `ip` with the browser's device cookie.
async fn code_from(app: &TestApp, challenge: &str, code: &str, ip: &str, device: &str) -> Resp {
    app.send(
        app.http
            .post(format!("{}/dev/v1/sessions/two-factor", app.base))
            .header("x-forwarded-for", ip)
            .header("cookie", format!("keygate_device={device}"))
            .json(&json!({"challenge": challenge, "code": code})),
    )
    .await
}

/// The challenge of a 200 answer to the password step.
fn challenge_of(app: &TestApp, r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    let ch = r.body["challenge"].as_str().unwrap().to_owned();
    app.remember(&ch);
    ch
}

/// A client that keeps no cookies of its own and follows no redirects.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of cookie `name` in a response's `Set-Cookie` headers.
fn set_cookie(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap_or("").to_owned())
}

/// The value of the hidden input `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + name.len()
        + 15;
    html[at..].split('"').next().unwrap().to_owned()
}

/// The Developer app's sign-in from a browser holding `device`: the password
/// form, then the code form. The status of the code form's answer.
async fn app_sign_in_with_code(app: &TestApp, email: &str, code: &str, device: &str) -> u16 {
    let http = plain_client();
    let page = http
        .get(format!("{}/app/sign-in", app.base))
        .send()
        .await
        .unwrap();
    let pre = set_cookie(page.headers(), "keygate_presession").unwrap();
    let html = page.text().await.unwrap();
    let cookies = format!("keygate_presession={pre}; keygate_device={device}");
    let form = |pairs: &[(&str, &str)]| serde_urlencoded::to_string(pairs).unwrap();
    let r = http
        .post(format!("{}/app/sign-in", app.base))
        .header("cookie", &cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("csrf", &hidden(&html, "csrf")),
            ("email", email),
            ("password", PASSWORD),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the code form");
    let html = r.text().await.unwrap();
    let challenge = hidden(&html, "challenge");
    app.remember(&challenge);
    let r = http
        .post(format!("{}/app/sign-in/two-factor", app.base))
        .header("cookie", &cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("csrf", &hidden(&html, "csrf")),
            ("challenge", &challenge),
            ("code", code),
        ]))
        .send()
        .await
        .unwrap();
    if let Some(s) = set_cookie(r.headers(), "keygate_session") {
        app.remember(&s);
    }
    r.status().as_u16()
}

/// Runs `sql` with text parameters on the test's database (SQLite file or
/// PostgreSQL), as an attacker with write access to it would.
pub(crate) async fn db_exec(app: &TestApp, sql: &'static str, args: &[&str]) {
    match &app.database_url {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let mut q = sqlx::query(sql);
            for a in args {
                q = q.bind(*a);
            }
            q.execute(&pool).await.unwrap();
            pool.close().await;
        }
        None => {
            let url = format!("sqlite://{}/keygate.db", app.data_dir.display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let mut q = sqlx::query(sql);
            for a in args {
                q = q.bind(*a);
            }
            q.execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// One text value read from the test's database.
async fn db_text(app: &TestApp, sql: &'static str, arg: &str) -> String {
    match &app.database_url {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let v: String = sqlx::query_scalar(sql)
                .bind(arg)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            v
        }
        None => {
            let url = format!("sqlite://{}/keygate.db", app.data_dir.display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let v: String = sqlx::query_scalar(sql)
                .bind(arg)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            v
        }
    }
}

async fn user_id(app: &TestApp, email: &str) -> String {
    db_text(app, "select user_id from users where email = $1", email).await
}

async fn sealed_secret(app: &TestApp, user_id: &str) -> String {
    let sql = "select sealed_secret from two_factor where user_id = $1";
    db_text(app, sql, user_id).await
}

#[tokio::test]
async fn a_stranger_who_fills_the_email_limit_cannot_keep_a_two_factor_user_from_their_codes() {
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.1"], &[]).await;
    app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let email = "owner@acme.test";
    // The owner's browser is known from an earlier sign-in; then two-factor
    // goes on.
    let home = sign_in_from(&app, email, PASSWORD, Some("10.0.0.1"), None).await;
    assert_eq!(home.status, 201, "{}", home.body);
    let device = device_cookie(&home.headers).unwrap();
    let me = Session {
        token: home.body["session_token"].as_str().unwrap().to_owned(),
        email: email.to_owned(),
    };
    let (secret, recovery) = enrol(&app, &me).await;

    // A stranger elsewhere uses up the email's failures.
    for _ in 0..10 {
        let r = sign_in_from(&app, email, WRONG, Some("203.0.113.9"), None).await;
        assert_eq!(r.status, 401);
    }
    let r = sign_in_from(&app, email, PASSWORD, Some("203.0.113.9"), None).await;
    assert_eq!(r.status, 429, "the email's limit still holds");

    // The owner, on the known browser from another address: the password,
    // then the right code, then a recovery code on another sign-in.
    let at = "198.51.100.7";
    let r = sign_in_from(&app, email, PASSWORD, Some(at), Some(&device)).await;
    let ch = challenge_of(&app, &r);
    let r = code_from(&app, &ch, &code(&secret, 1), at, &device).await;
    assert_eq!(r.status, 201, "the right code: {}", r.body);
    let r = sign_in_from(&app, email, PASSWORD, Some(at), Some(&device)).await;
    let ch = challenge_of(&app, &r);
    let r = code_from(&app, &ch, &recovery[0], at, &device).await;
    assert_eq!(r.status, 201, "an unused recovery code: {}", r.body);

    // The Developer app's code form, from the same browser.
    let status = app_sign_in_with_code(&app, email, &recovery[1], &device).await;
    assert_eq!(status, 303, "signed in to the app");

    // A reset link and a code.
    let r = app
        .req(
            Method::POST,
            "/dev/v1/password-resets",
            None,
            Some(json!({"email": email})),
        )
        .await;
    assert_eq!(r.status, 202);
    let link = app.mailed_link(email, "/app/password-reset/").await;
    let new_password = "a-whole-new-passphrase-for-2027";
    app.remember(new_password);
    let r = app
        .req(
            Method::POST,
            "/dev/v1/password-resets/complete",
            None,
            Some(json!({"token": link.rsplit('/').next().unwrap(),
                "new_password": new_password, "code": recovery[2]})),
        )
        .await;
    assert_eq!(r.status, 204, "the code at reset completion: {}", r.body);
}

#[tokio::test]
async fn wrong_codes_are_limited_per_user_across_challenges_and_flows() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let email = "owner@acme.test";
    let (secret, recovery) = enrol(&app, &org.owner).await;
    let wrong = wrong_code(&secret);

    // Someone with the password opens challenge after challenge: each takes
    // five codes, all of them together ten.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let ch = challenge(&app, email).await;
        for _ in 0..4 {
            statuses.push(second_step(&app, &ch, &wrong).await.status.as_u16());
        }
    }
    assert_eq!(statuses, [[401; 10].as_slice(), &[429, 429]].concat());

    // Wrong codes are not wrong passwords: the password step still answers...
    let ch = challenge(&app, email).await;
    // ...but no code is checked for this user until the window ends, not
    // even the right one, in any flow.
    let r = second_step(&app, &ch, &code(&secret, 1)).await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "too_many_requests"));
    assert!(r.headers.get("retry-after").is_some());
    let r = app
        .req(
            Method::DELETE,
            "/dev/v1/me/two-factor",
            Some(&org.owner),
            Some(json!({"password": PASSWORD, "code": recovery[0]})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "too_many_requests"));
    let r = app
        .req(
            Method::POST,
            "/dev/v1/password-resets",
            None,
            Some(json!({"email": email})),
        )
        .await;
    assert_eq!(r.status, 202);
    let link = app.mailed_link(email, "/app/password-reset/").await;
    let r = app
        .req(
            Method::POST,
            "/dev/v1/password-resets/complete",
            None,
            Some(json!({"token": link.rsplit('/').next().unwrap(),
                "new_password": "a-whole-new-passphrase-for-2027", "code": recovery[0]})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "too_many_requests"));
    // Nothing was used up: two-factor is still on, the password unchanged.
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/members", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.body[0]["two_factor"], true, "{}", r.body);
    challenge(&app, email).await;
}

#[tokio::test]
async fn a_session_made_with_the_password_alone_stays_refused_after_two_factor_goes_on() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    enrol(&app, &org.owner).await;
    let at = format!("/dev/v1/orgs/{}", org.org_id);
    let r = app
        .req(
            Method::PATCH,
            &at,
            Some(&org.owner),
            Some(json!({"require_two_factor": true, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // An admin without two-factor, with two sessions: both refused.
    let admin = app.invite_member(&org, "admin@acme.test", "admin").await;
    let old = app.sign_in("admin@acme.test", PASSWORD).await;
    let keys = format!("{at}/api-keys");
    for s in [&admin, &old] {
        let r = app.req(Method::GET, &keys, Some(s), None).await;
        assert_eq!((r.status.as_u16(), r.code()), (403, "two_factor_required"));
    }
    // A session of the Developer app, with the password alone too.
    let http = plain_client();
    let page = http
        .get(format!("{}/app/sign-in", app.base))
        .send()
        .await
        .unwrap();
    let pre = set_cookie(page.headers(), "keygate_presession").unwrap();
    let html = page.text().await.unwrap();
    let r = http
        .post(format!("{}/app/sign-in", app.base))
        .header("cookie", format!("keygate_presession={pre}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("csrf", hidden(&html, "csrf").as_str()),
                ("email", "admin@acme.test"),
                ("password", PASSWORD),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let app_session = set_cookie(r.headers(), "keygate_session").unwrap();
    app.remember(&app_session);
    let settings = |cookie: String| {
        let http = http.clone();
        let url = format!("{}/app/orgs/{}/settings", app.base, org.org_id);
        async move {
            http.get(url)
                .header("cookie", format!("keygate_session={cookie}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(settings(app_session.clone()).await, 403);

    // The admin turns two-factor on from one session: that one passed a
    // code and is let in (and may generate an admin key)...
    let (secret, _) = enrol(&app, &admin).await;
    let r = app.req(Method::GET, &keys, Some(&admin), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .req(
            Method::POST,
            &format!("{at}/admin-keys"),
            Some(&admin),
            Some(json!({"owner_id": org.org_id, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.body;
    // ...the sessions opened with the password alone are not: they ended.
    let r = app.req(Method::GET, &keys, Some(&old), None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = app
        .req(
            Method::POST,
            &format!("{at}/admin-keys/{}/regenerate", cid(&key)),
            Some(&old),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        app.req(Method::GET, "/dev/v1/me", Some(&old), None)
            .await
            .status,
        401
    );
    let status = settings(app_session).await;
    assert!(status == 303 || status == 401, "app session: {status}");

    // The policy asks the session how it was made, not whether its user has
    // two-factor on now: the same session, recorded as made with the
    // password alone (as one opened before two-factor went on is), is refused.
    let hash = sha256(admin.token.as_bytes()).to_hex();
    let sql = "update sessions set factors = 'password' where session_id = $1";
    db_exec(&app, sql, &[&hash]).await;
    let r = app.req(Method::GET, &keys, Some(&admin), None).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "two_factor_required"));
    // Signing in again with a code is the way back in.
    let fresh = sign_in_with_code(&app, "admin@acme.test", &code(&secret, 1)).await;
    let r = app.req(Method::GET, &keys, Some(&fresh), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

mod sealing;
