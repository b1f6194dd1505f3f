//! People: invitations instead of admin-chosen passwords (and the takeover that
//! fixes), the CLI's existing-owner rule, password reset and change, and one's
//! own sessions (in `people/passwords.rs`). Links are read from the mails
//! (`<data dir>/mail/*.eml`).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

mod passwords;

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
