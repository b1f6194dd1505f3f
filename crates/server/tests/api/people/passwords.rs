//! Passwords and sessions: a reset by mailed link (and its limits), a
//! change, and one's own sessions, ended one by one or by the idle timeout.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{NEW_PW, audit_actions, token_of};
use crate::helpers::*;
use crate::inviters::sql_count;

#[tokio::test]
async fn a_password_reset_answers_alike_mails_a_single_use_link_and_ends_every_session() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let dev = app.invite_member(&org, "dev@acme.test", "developer").await;
    let r1 = app
        .req(
            Method::POST,
            "/dev/v1/password-resets",
            None,
            Some(json!({"email": "Dev@acme.test"})),
        )
        .await;
    let r2 = app
        .req(
            Method::POST,
            "/dev/v1/password-resets",
            None,
            Some(json!({"email": "nobody@nowhere.test"})),
        )
        .await;
    assert_eq!((r1.status.as_u16(), r2.status.as_u16()), (202, 202));
    assert_eq!(r1.body, r2.body, "no account oracle");
    let link = app
        .mailed_link("dev@acme.test", "/app/password-reset/")
        .await;
    assert!(link.starts_with(&format!("{}/app/password-reset/", app.base)));
    let short = app
        .req(
            Method::POST,
            "/dev/v1/password-resets/complete",
            None,
            Some(json!({"token": token_of(&link), "new_password": "short"})),
        )
        .await;
    assert_eq!(
        (short.status.as_u16(), short.body["source"].as_str()),
        (400, Some("new_password"))
    );
    let r = app
        .req(
            Method::POST,
            "/dev/v1/password-resets/complete",
            None,
            Some(json!({"token": token_of(&link), "new_password": NEW_PW})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        app.req(Method::GET, "/dev/v1/me", Some(&dev), None)
            .await
            .status,
        401,
        "sessions ended"
    );
    let again = app
        .req(
            Method::POST,
            "/dev/v1/password-resets/complete",
            None,
            Some(json!({"token": token_of(&link), "new_password": "another-passphrase-2027"})),
        )
        .await;
    assert_eq!(again.status, 404, "single use");
    app.remember(NEW_PW);
    app.sign_in("dev@acme.test", NEW_PW).await;
    let old = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "dev@acme.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(old.status, 401);
    // The notice, and no mail at all for the unknown address.
    let subjects = poll(Duration::from_secs(10), async || {
        let subjects = std::fs::read_dir(app.data_dir.join("mail"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect::<Vec<_>>();
        if subjects
            .iter()
            .any(|m| m.contains("Subject: Your Keygate password was changed"))
        {
            Ok(subjects)
        } else {
            Err(subjects)
        }
    })
    .await
    .unwrap_or_else(|subjects| subjects);
    assert!(
        subjects
            .iter()
            .any(|m| m.contains("Subject: Your Keygate password was changed")
                && m.contains("To: dev@acme.test"))
    );
    assert!(!subjects.iter().any(|m| m.contains("nobody@nowhere.test")));
    assert!(
        audit_actions(&app, &org)
            .await
            .iter()
            .any(|a| a == "password.reset")
    );
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_only() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let other = app.sign_in("owner@acme.test", PASSWORD).await;
    let r = app
        .req(
            Method::POST,
            "/dev/v1/me/password",
            Some(&org.owner),
            Some(json!({"password": "wrong-password-123", "new_password": NEW_PW})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (401, "password_confirmation_failed")
    );
    app.remember(NEW_PW);
    let r = app
        .req(
            Method::POST,
            "/dev/v1/me/password",
            Some(&org.owner),
            Some(json!({"password": PASSWORD, "new_password": NEW_PW})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        app.req(Method::GET, "/dev/v1/me", Some(&org.owner), None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.req(Method::GET, "/dev/v1/me", Some(&other), None)
            .await
            .status,
        401
    );
    app.sign_in("owner@acme.test", NEW_PW).await;
    assert!(
        audit_actions(&app, &org)
            .await
            .iter()
            .any(|a| a == "password.changed")
    );
}

#[tokio::test]
async fn people_see_their_sessions_and_end_one_but_not_anyone_elses() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let second = app.sign_in("owner@acme.test", PASSWORD).await;
    let dev = app.invite_member(&org, "dev@acme.test", "developer").await;
    let r = app
        .req(Method::GET, "/dev/v1/me/sessions", Some(&org.owner), None)
        .await;
    assert_eq!(r.status, 200);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 2, "{}", r.body);
    let current: Vec<bool> = list
        .iter()
        .map(|s| s["current"].as_bool().unwrap())
        .collect();
    assert_eq!(current.iter().filter(|c| **c).count(), 1);
    for s in list {
        let id = s["session_id"].as_str().unwrap();
        assert!(id.starts_with("ses_") && id != org.owner.token && id != second.token);
        assert_eq!(s["ip"], "127.0.0.1");
        assert!(s["created_at"].is_string() && s["last_seen_at"].is_string());
    }
    let other_id = list.iter().find(|s| s["current"] == false).unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dev_list = app
        .req(Method::GET, "/dev/v1/me/sessions", Some(&dev), None)
        .await;
    let dev_id = dev_list.body[0]["session_id"].as_str().unwrap().to_owned();
    let r = app
        .req(
            Method::DELETE,
            &format!("/dev/v1/me/sessions/{dev_id}"),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 404, "another user's session");
    assert_eq!(
        app.req(Method::GET, "/dev/v1/me", Some(&dev), None)
            .await
            .status,
        200
    );
    let r = app
        .req(
            Method::DELETE,
            &format!("/dev/v1/me/sessions/{other_id}"),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        app.req(Method::GET, "/dev/v1/me", Some(&second), None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.req(Method::GET, "/dev/v1/me", Some(&org.owner), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn sessions_end_after_the_idle_timeout_and_use_keeps_them_alive() {
    let app = spawn_app_with(&["--session-idle-timeout", "2"], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let idle = app.sign_in("owner@acme.test", PASSWORD).await;
    for _ in 0..3 {
        app.advance_clock(Duration::from_millis(1200)).await;
        assert_eq!(
            app.req(Method::GET, "/dev/v1/me", Some(&org.owner), None)
                .await
                .status,
            200,
            "used: alive"
        );
    }
    assert_eq!(
        app.req(Method::GET, "/dev/v1/me", Some(&idle), None)
            .await
            .status,
        401,
        "unused for 3.6 s: ended"
    );
    app.advance_clock(Duration::from_millis(2500)).await;
    assert_eq!(
        app.req(Method::GET, "/dev/v1/me", Some(&org.owner), None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn reset_requests_are_limited_per_email_quietly_and_per_source_with_429() {
    let app = spawn_app().await;
    app.create_org("Acme", "owner@acme.test", &[]).await;
    let ask = |email: &'static str| {
        let app = &app;
        async move {
            app.req(
                Method::POST,
                "/dev/v1/password-resets",
                None,
                Some(json!({"email": email})),
            )
            .await
        }
    };
    for _ in 0..4 {
        let r = ask("owner@acme.test").await;
        assert_eq!(r.status, 202, "the answer never changes for one email");
    }
    app.mailed_link("owner@acme.test", "/app/password-reset/")
        .await;
    // The limit is applied when asked: a fourth ask starts no work. The work
    // of the others is done once three mails are written and none is pending.
    let pending = "select count(*) from deliveries where status = 'pending'";
    let mails = eventually("three mails sent", Duration::from_secs(10), async || {
        let written = std::fs::read_dir(app.data_dir.join("mail"))
            .map(Iterator::count)
            .unwrap_or(0);
        match sql_count(&app, pending).await {
            0 if written >= 3 => Ok(written),
            n => Err(format!("{n} pending, {written} written")),
        }
    })
    .await;
    assert_eq!(mails, 3, "three reset mails per email and 15 minutes");
    for _ in 0..16 {
        assert_eq!(ask("nobody@nowhere.test").await.status, 202);
    }
    let r = ask("someone@else.test").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "too_many_requests"));
    assert!(r.headers.get("retry-after").is_some());
}

/// A lock that makes the server's database work wait while it is held: the
/// write lock of the SQLite file, or on PostgreSQL the tables a reset
/// request reads and writes.
enum DatabaseLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl DatabaseLock {
    async fn take(app: &TestApp) -> DatabaseLock {
        use sqlx::Connection;
        match &app.database_url {
            Some(url) => {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                for sql in [
                    "begin",
                    "lock table users, password_resets in access exclusive mode",
                ] {
                    sqlx::query(sql).execute(&mut c).await.unwrap();
                }
                DatabaseLock::Postgres(c)
            }
            None => {
                let url = format!("sqlite://{}/keygate.db", app.data_dir.display());
                let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query("begin immediate")
                    .execute(&mut c)
                    .await
                    .unwrap();
                DatabaseLock::Sqlite(c)
            }
        }
    }

    async fn release(self) {
        match self {
            DatabaseLock::Sqlite(mut c) => {
                sqlx::query("rollback").execute(&mut c).await.unwrap();
            }
            DatabaseLock::Postgres(mut c) => {
                sqlx::query("rollback").execute(&mut c).await.unwrap();
            }
        }
    }
}

/// The answer to a reset request cannot tell by its timing whether the email
/// has an account when it does no work that depends on it: with the database
/// locked, known and unknown emails are both answered at once, on the JSON
/// API and in the app's form, and the link is stored and mailed afterwards.
#[tokio::test]
async fn a_reset_request_is_answered_before_any_database_work_whatever_the_email() {
    let app = spawn_app().await;
    app.create_org("Acme", "owner@acme.test", &[]).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(format!("{}/app/password-reset", app.base))
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
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = html[at..].split('"').next().unwrap().to_owned();

    let lock = DatabaseLock::take(&app).await;
    let within = Duration::from_secs(3);
    for email in ["owner@acme.test", "nobody@nowhere.test"] {
        let ask = app.req(
            Method::POST,
            "/dev/v1/password-resets",
            None,
            Some(json!({"email": email})),
        );
        let r = tokio::time::timeout(within, ask)
            .await
            .unwrap_or_else(|_| panic!("{email}: no answer while the database is locked"));
        assert_eq!(r.status, 202, "{email}");
    }
    let form = http
        .post(format!("{}/app/password-reset", app.base))
        .header("cookie", format!("keygate_presession={pre}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&email=owner%40acme.test"))
        .send();
    let r = tokio::time::timeout(within, form)
        .await
        .expect("the app's form: no answer while the database is locked")
        .unwrap();
    assert_eq!(r.status(), 200);
    lock.release().await;

    // The work happened after the answers: the link arrives.
    app.mailed_link("owner@acme.test", "/app/password-reset/")
        .await;
}
