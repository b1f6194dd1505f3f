//! People: invitations instead of admin-chosen passwords (and the takeover that
//! fixes), the CLI's existing-owner rule, password reset and change, and one's
//! own sessions. Links are read from the mails (`<data dir>/mail/*.eml`).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const NEW_PW: &str = "a-whole-new-passphrase-for-2027";

fn token_of(link: &str) -> &str {
    link.rsplit('/').next().unwrap()
}

async fn invite(app: &TestApp, org: &Org, email: &str, role: &str) -> crate::helpers::Resp {
    app.req(
        Method::POST,
        &format!("/dev/v1/orgs/{}/invitations", org.org_id),
        Some(&org.owner),
        Some(json!({"email": email, "role": role, "password": PASSWORD})),
    )
    .await
}

async fn accept(app: &TestApp, token: &str, password: &str) -> crate::helpers::Resp {
    app.req(
        Method::POST,
        "/dev/v1/invitations/accept",
        None,
        Some(json!({"token": token, "password": password})),
    )
    .await
}

fn session(r: &crate::helpers::Resp, email: &str) -> Session {
    Session {
        token: r.body["session_token"].as_str().unwrap().to_owned(),
        email: email.to_owned(),
    }
}

async fn audit_actions(app: &TestApp, org: &Org) -> Vec<String> {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/audit-events", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    let list = r.body.get("events").unwrap_or(&r.body).clone();
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn invitations_answer_alike_and_people_join_only_through_the_mailed_link() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    app.create_org("Other", "owner@other.test", &[]).await;

    let old = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/members", org.org_id),
            Some(&org.owner),
            Some(json!({"email": "x@acme.test", "role": "viewer", "initial_password": PASSWORD})),
        )
        .await;
    assert!(matches!(old.status.as_u16(), 404 | 405), "{}", old.status);

    let a = invite(&app, &org, "new@acme.test", "developer").await;
    let b = invite(&app, &org, "owner@other.test", "viewer").await;
    assert_eq!(
        (a.status.as_u16(), b.status.as_u16()),
        (201, 201),
        "{} {}",
        a.body,
        b.body
    );
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&a.body), keys(&b.body), "no account oracle");
    assert_eq!(
        (a.body["email"].as_str(), a.body["role"].as_str()),
        (Some("new@acme.test"), Some("developer"))
    );
    assert!(
        a.body["expires_at"].as_str().is_some()
            && a.body["invitation_id"]
                .as_str()
                .unwrap()
                .starts_with("inv_")
    );
    assert_eq!(
        invite(&app, &org, "new@acme.test", "viewer").await.status,
        409
    );
    let wrong = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/invitations", org.org_id),
            Some(&org.owner),
            Some(json!({"email": "n2@acme.test", "role": "viewer", "password": "wrong-password-123"})),
        )
        .await;
    assert_eq!(
        (wrong.status.as_u16(), wrong.code()),
        (401, "password_confirmation_failed")
    );
    let pending = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/invitations", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    let emails: Vec<&str> = pending
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 2);
    assert!(emails.contains(&"new@acme.test") && emails.contains(&"owner@other.test"));

    // A new person: the account is created with their own password.
    let link = app.mailed_link("new@acme.test", "/app/invitations/").await;
    assert!(
        link.starts_with(&format!("{}/app/invitations/", app.base)),
        "{link}"
    );
    assert_eq!(token_of(&link).len(), 43);
    let r = accept(&app, token_of(&link), PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body["expires_at"].is_string() && r.body["user"]["email"] == "new@acme.test");
    let dev = session(&r, "new@acme.test");
    let me = app.req(Method::GET, "/dev/v1/me", Some(&dev), None).await;
    assert_eq!(me.body["memberships"][0]["org_id"], org.org_id.as_str());
    assert_eq!(me.body["memberships"][0]["role"], "developer");
    assert_eq!(
        accept(&app, token_of(&link), PASSWORD).await.status,
        404,
        "single use"
    );

    // Someone with an account elsewhere proves it with their own password.
    let link = app
        .mailed_link("owner@other.test", "/app/invitations/")
        .await;
    let r = accept(&app, token_of(&link), "not-their-password-123").await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "unauthorized"));
    let r = accept(&app, token_of(&link), PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.body);

    // Withdrawn: the link is dead.
    let w = invite(&app, &org, "gone@acme.test", "viewer").await;
    let link = app.mailed_link("gone@acme.test", "/app/invitations/").await;
    let path = format!(
        "/dev/v1/orgs/{}/invitations/{}",
        org.org_id,
        w.body["invitation_id"].as_str().unwrap()
    );
    let r = app
        .req(Method::DELETE, &path, Some(&org.owner), Some(json!({})))
        .await;
    assert_eq!(r.status, 401, "withdrawing needs the password");
    let r = app
        .req(
            Method::DELETE,
            &path,
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        app.req(
            Method::DELETE,
            &path,
            Some(&org.owner),
            Some(json!({"password": PASSWORD}))
        )
        .await
        .status,
        404
    );
    assert_eq!(accept(&app, token_of(&link), PASSWORD).await.status, 404);
    assert_eq!(accept(&app, "no-such-token", PASSWORD).await.status, 404);

    // A member of another organization cannot see or withdraw these.
    let other = app.sign_in("owner@other.test", PASSWORD).await;
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/invitations", org.org_id),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(r.status, 403, "a viewer of Acme is not an org manager");

    let actions = audit_actions(&app, &org).await;
    for a in [
        "invitation.created",
        "invitation.accepted",
        "member.joined",
        "invitation.withdrawn",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    let doc = app.req(Method::GET, "/openapi.json", None, None).await;
    let paths = &doc.body["paths"];
    assert!(paths["/dev/v1/orgs/{org_id}/members"].get("post").is_none());
    assert!(
        paths["/dev/v1/orgs/{org_id}/invitations"]
            .get("post")
            .is_some()
    );
    assert!(paths["/dev/v1/invitations/accept"].get("post").is_some());
}

/// The takeover of issue 12: an admin of one organization prepared an account
/// for an email (old: `POST /members` with `initial_password` of their
/// choosing), then an operator created an organization for that email and the
/// admin's password opened its owner's account. Now the admin can only invite,
/// and `org create` gives the owner the operator's password.
#[tokio::test]
async fn an_admin_cannot_prepare_the_account_of_a_future_owner() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let old = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/members", org.org_id),
            Some(&org.owner),
            Some(
                json!({"email": "ceo@newco.test", "role": "viewer", "initial_password": PASSWORD}),
            ),
        )
        .await;
    assert!(
        matches!(old.status.as_u16(), 404 | 405),
        "{} {}",
        old.status,
        old.body
    );
    assert_eq!(
        invite(&app, &org, "ceo@newco.test", "viewer").await.status,
        201
    );

    let out = app.cli(
        &[
            "org",
            "create",
            "--name",
            "NewCo",
            "--owner-email",
            "ceo@newco.test",
            "--owner-password-stdin",
        ],
        &format!("{NEW_PW}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "ceo@newco.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        r.status, 401,
        "the admin's password does not open the new owner's account"
    );
    let r = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "ceo@newco.test", "password": NEW_PW})),
        )
        .await;
    assert_eq!(r.status, 201);
    // And the old invitation now asks for the owner's own password.
    let link = app.mailed_link("ceo@newco.test", "/app/invitations/").await;
    assert_eq!(accept(&app, token_of(&link), PASSWORD).await.status, 401);
}

#[tokio::test]
async fn org_create_refuses_an_existing_account_unless_asked_and_keeps_its_password() {
    let app = spawn_app().await;
    app.create_org("Acme", "owner@acme.test", &[]).await;
    let out = app.cli(
        &[
            "org",
            "create",
            "--name",
            "Third",
            "--owner-email",
            "owner@acme.test",
            "--owner-password-stdin",
        ],
        &format!("{NEW_PW}\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already has an account") && err.contains("--existing-owner"),
        "{err}"
    );
    let out = app.cli(
        &[
            "org",
            "create",
            "--name",
            "Third",
            "--owner-email",
            "owner@acme.test",
            "--existing-owner",
            "--owner-password-stdin",
        ],
        &format!("{NEW_PW}\n"),
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "the two flags exclude each other"
    );
    let out = app.cli(
        &[
            "org",
            "create",
            "--name",
            "Third",
            "--owner-email",
            "nobody@acme.test",
            "--existing-owner",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no account"));
    let third = app
        .create_org_existing_owner("Third", "owner@acme.test", &["T"])
        .await;
    let me = app
        .req(Method::GET, "/dev/v1/me", Some(&third.owner), None)
        .await;
    assert_eq!(me.body["memberships"].as_array().unwrap().len(), 2);
    let r = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "owner@acme.test", "password": NEW_PW})),
        )
        .await;
    assert_eq!(r.status, 401, "the password is untouched");
}

#[tokio::test]
async fn operators_invite_from_the_command_line_and_get_the_link() {
    let app = spawn_app_with(&["--public-url", "https://keygate.example.com/"], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let out = app.cli(
        &[
            "org",
            "invite",
            "--org",
            &org.org_id,
            "--email",
            "ops@acme.test",
            "--role",
            "admin",
            "--public-url",
            "https://kg.example.com",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        printed.starts_with("https://kg.example.com/app/invitations/"),
        "{printed}"
    );
    app.remember(token_of(&printed));
    // The mail carries the server's --public-url and the same token.
    let mailed = app.mailed_link("ops@acme.test", "/app/invitations/").await;
    assert_eq!(
        mailed,
        format!(
            "https://keygate.example.com/app/invitations/{}",
            token_of(&printed)
        )
    );
    let r = accept(&app, token_of(&printed), PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let out = app.cli(
        &[
            "org",
            "invite",
            "--org",
            &org.org_id,
            "--email",
            "ops@acme.test",
            "--role",
            "admin",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "already a member");
    let out = app.cli(
        &[
            "org",
            "invite",
            "--org",
            &org.org_id,
            "--email",
            "x@acme.test",
            "--role",
            "owner",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
}

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
    let mut subjects = Vec::new();
    for _ in 0..100 {
        subjects = std::fs::read_dir(app.data_dir.join("mail"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect::<Vec<_>>();
        if subjects
            .iter()
            .any(|m| m.contains("Subject: Your Keygate password was changed"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mails = std::fs::read_dir(app.data_dir.join("mail"))
        .unwrap()
        .count();
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
