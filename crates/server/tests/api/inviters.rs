//! An invitation carries its inviter's authority: removing the inviter, or
//! lowering their role below what they invited, withdraws it (audited, in the
//! same transaction as the member change); at acceptance the inviter's role
//! is checked again inside the accepting transaction; the lists show who sent
//! each invitation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Org, PASSWORD, Session, TestApp, spawn_app};

async fn invite(app: &TestApp, org: &Org, by: &Session, email: &str, role: &str) -> Value {
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/invitations", org.org_id),
            Some(by),
            Some(json!({"email": email, "role": role, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "invite {email}: {}", r.body);
    r.body
}

/// The token of the newest invitation mailed to `email`.
async fn mailed_token(app: &TestApp, email: &str) -> String {
    let link = app.mailed_link(email, "/app/invitations/").await;
    link.rsplit('/').next().unwrap().to_owned()
}

async fn accept(app: &TestApp, token: &str) -> crate::helpers::Resp {
    app.req(
        Method::POST,
        "/dev/v1/invitations/accept",
        None,
        Some(json!({"token": token, "password": PASSWORD})),
    )
    .await
}

async fn pending(app: &TestApp, org: &Org) -> Vec<Value> {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/invitations", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.as_array().unwrap().clone()
}

async fn user_id(app: &TestApp, org: &Org, email: &str) -> String {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/members", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    r.body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .map(|m| m["user_id"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("{email} is not a member: {}", r.body))
}

async fn audit(app: &TestApp, org: &Org, action: &str) -> Vec<Value> {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/audit-events?limit=200", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

/// Runs one statement on the app's database (SQLite file or PostgreSQL).
pub async fn sql(app: &TestApp, statement: &str) {
    match &app.database_url {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        None => {
            let url = format!("sqlite://{}/keygate.db", app.data_dir.display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

/// `select count(*) …` on the test's database.
pub async fn sql_count(app: &TestApp, query: &str) -> i64 {
    let query = sqlx::AssertSqlSafe(query.to_owned());
    match &app.database_url {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let n = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
        None => {
            let url = format!("sqlite://{}/keygate.db", app.data_dir.display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let n = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
    }
}

#[tokio::test]
async fn removing_an_admin_withdraws_the_invitations_they_sent() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let admin = app.invite_member(&org, "admin@acme.test", "admin").await;
    let admin_id = user_id(&app, &org, "admin@acme.test").await;

    let sent = invite(&app, &org, &admin, "mallory@acme.test", "admin").await;
    assert_eq!(
        sent["invited_by"],
        json!({"user_id": admin_id, "email": "admin@acme.test"})
    );
    let token = mailed_token(&app, "mallory@acme.test").await;
    invite(&app, &org, &org.owner, "carol@acme.test", "viewer").await;
    let list = pending(&app, &org).await;
    let mallory = list
        .iter()
        .find(|i| i["email"] == "mallory@acme.test")
        .unwrap();
    assert_eq!(mallory["invited_by"]["email"], "admin@acme.test");
    assert_eq!(mallory["invited_by"]["user_id"], admin_id.as_str());

    let r = app
        .req(
            Method::DELETE,
            &format!("/dev/v1/orgs/{}/members/{admin_id}", org.org_id),
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);

    // The removed admin's invitation is gone from the list and its link is
    // dead, as a withdrawn one; the owner's own invitation still stands.
    let emails: Vec<Value> = pending(&app, &org)
        .await
        .iter()
        .map(|i| i["email"].clone())
        .collect();
    assert_eq!(emails, [json!("carol@acme.test")]);
    let r = accept(&app, &token).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (404, "not_found"),
        "{}",
        r.body
    );
    let page = app
        .http
        .get(format!("{}/app/invitations/{token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    let withdrawn = audit(&app, &org, "invitation.withdrawn").await;
    assert_eq!(withdrawn.len(), 1, "{withdrawn:?}");
    assert_eq!(withdrawn[0]["details"]["reason"], "inviter_removed");
    assert_eq!(withdrawn[0]["details"]["email"], "mallory@acme.test");
    assert_eq!(
        withdrawn[0]["details"]["invitation_id"],
        sent["invitation_id"]
    );
    let carol = mailed_token(&app, "carol@acme.test").await;
    assert_eq!(accept(&app, &carol).await.status, 201);
}

#[tokio::test]
async fn lowering_an_admins_role_withdraws_what_the_new_role_may_not_send() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let admin = app.invite_member(&org, "admin@acme.test", "admin").await;
    let admin_id = user_id(&app, &org, "admin@acme.test").await;
    invite(&app, &org, &admin, "a@acme.test", "admin").await;
    invite(&app, &org, &admin, "v@acme.test", "viewer").await;
    let (a, v) = (
        mailed_token(&app, "a@acme.test").await,
        mailed_token(&app, "v@acme.test").await,
    );

    // A developer may not invite at all: both invitations die.
    let r = app
        .req(
            Method::PATCH,
            &format!("/dev/v1/orgs/{}/members/{admin_id}", org.org_id),
            Some(&org.owner),
            Some(json!({"role": "developer", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(pending(&app, &org).await.is_empty());
    for token in [&a, &v] {
        let r = accept(&app, token).await;
        assert_eq!(r.status, 404, "{}", r.body);
    }
    let withdrawn = audit(&app, &org, "invitation.withdrawn").await;
    assert_eq!(withdrawn.len(), 2, "{withdrawn:?}");
    assert!(
        withdrawn
            .iter()
            .all(|e| e["details"]["reason"] == "inviter_role_changed")
    );
}

#[tokio::test]
async fn an_invitation_above_its_inviters_current_role_is_refused_at_acceptance() {
    // However the inviter lost the role (here: the database changed under
    // Keygate, as an invitation from before this rule would be), the
    // accepting transaction reads it again and refuses, as for a withdrawn one.
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let admin = app.invite_member(&org, "admin@acme.test", "admin").await;
    let admin_id = user_id(&app, &org, "admin@acme.test").await;
    invite(&app, &org, &admin, "mallory@acme.test", "admin").await;
    let token = mailed_token(&app, "mallory@acme.test").await;
    sql(
        &app,
        &format!("update memberships set role = 'viewer' where user_id = '{admin_id}'"),
    )
    .await;
    let r = accept(&app, &token).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (404, "not_found"),
        "{}",
        r.body
    );
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/members", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert!(
        !r.body.to_string().contains("mallory@acme.test"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn an_operators_invitation_has_no_inviter_and_survives_member_changes() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let admin = app.invite_member(&org, "admin@acme.test", "admin").await;
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let token = link.rsplit('/').next().unwrap().to_owned();
    app.remember(&token);
    let list = pending(&app, &org).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].get("invited_by"), Some(&Value::Null), "{}", list[0]);

    let admin_id = user_id(&app, &org, "admin@acme.test").await;
    let r = app
        .req(
            Method::DELETE,
            &format!("/dev/v1/orgs/{}/members/{admin_id}", org.org_id),
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 204);
    drop(admin);
    assert_eq!(accept(&app, &token).await.status, 201);
}

#[tokio::test]
async fn removing_a_member_in_the_app_withdraws_their_invitations_and_the_app_shows_inviters() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let admin = app.invite_member(&org, "admin@acme.test", "admin").await;
    let admin_id = user_id(&app, &org, "admin@acme.test").await;
    invite(&app, &org, &admin, "mallory@acme.test", "admin").await;
    let token = mailed_token(&app, "mallory@acme.test").await;

    let members = format!("{}/app/orgs/{}/settings/members", app.base, org.org_id);
    let cookie = format!("keygate_session={}", org.owner.token);
    let page = app
        .http
        .get(&members)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Invited by"), "the list has the column");
    let row = &page[page.find("mallory@acme.test").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("admin@acme.test"), "{row}");

    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[at..].split('"').next().unwrap();
    let r = app
        .http
        .post(format!("{members}/{admin_id}/remove"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("csrf", csrf), ("password", PASSWORD)]).unwrap())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(r.text().await.unwrap().contains("Member removed."));
    assert_eq!(accept(&app, &token).await.status, 404);
    assert_eq!(audit(&app, &org, "invitation.withdrawn").await.len(), 1);
}

#[tokio::test]
async fn an_acceptance_racing_the_inviters_removal_is_decided_by_one_transaction() {
    // Either the invitation was accepted first (the newcomer is a member and
    // the invitation was never withdrawn) or the removal was (404, withdrawn,
    // not a member): never a member through a withdrawn invitation.
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    for round in 0..6 {
        let admin_email = format!("admin{round}@acme.test");
        let admin = app.invite_member(&org, &admin_email, "admin").await;
        let admin_id = user_id(&app, &org, &admin_email).await;
        let newcomer = format!("new{round}@acme.test");
        let sent = invite(&app, &org, &admin, &newcomer, "admin").await;
        let token = mailed_token(&app, &newcomer).await;
        let path = format!("/dev/v1/orgs/{}/members/{admin_id}", org.org_id);
        let removal = app.req(
            Method::DELETE,
            &path,
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        );
        let (accepted, removed) = tokio::join!(accept(&app, &token), removal);
        assert_eq!(removed.status, 204, "{}", removed.body);
        let withdrawn = audit(&app, &org, "invitation.withdrawn")
            .await
            .iter()
            .any(|e| e["details"]["invitation_id"] == sent["invitation_id"]);
        let r = app
            .req(
                Method::GET,
                &format!("/dev/v1/orgs/{}/members", org.org_id),
                Some(&org.owner),
                None,
            )
            .await;
        let member = r.body.to_string().contains(&newcomer);
        match accepted.status.as_u16() {
            201 => assert!(member && !withdrawn, "round {round}: accepted"),
            404 => assert!(!member && withdrawn, "round {round}: refused"),
            s => panic!("round {round}: {s} {}", accepted.body),
        }
    }
}
