//! Sessions, members, accounts, the audit log and the OpenAPI document.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn sign_in_failures_look_alike_and_sign_out_ends_the_session() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let wrong = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "owner@acme.test", "password": "wrong-password-123456"})),
        )
        .await;
    let unknown = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "nobody@acme.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body, unknown.body);
    let me = app
        .req(Method::GET, "/dev/v1/me", Some(&org.owner), None)
        .await;
    assert_eq!(me.body["user"]["email"], "owner@acme.test");
    assert_eq!(me.body["memberships"][0]["org_id"], org.org_id.as_str());
    assert_eq!(me.body["memberships"][0]["role"], "owner");
    let out = app
        .req(
            Method::DELETE,
            "/dev/v1/sessions/current",
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(out.status, 204);
    let me = app
        .req(Method::GET, "/dev/v1/me", Some(&org.owner), None)
        .await;
    assert_eq!((me.status.as_u16(), me.code()), (401, "unauthorized"));
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_rate_limited() {
    let app = spawn_app().await;
    app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let mut last = None;
    for _ in 0..12 {
        last = Some(
            app.req(
                Method::POST,
                "/dev/v1/sessions",
                None,
                Some(json!({"email": "owner@acme.test", "password": "wrong-password-123456"})),
            )
            .await,
        );
    }
    let r = last.unwrap();
    assert_eq!((r.status.as_u16(), r.code()), (429, "too_many_requests"));
    assert!(r.headers.get("retry-after").is_some());
}

#[tokio::test]
async fn owners_invite_members_change_roles_and_remove_them_but_not_the_owner() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let base = format!("/dev/v1/orgs/{}/members", org.org_id);
    let dev = app.invite_member(&org, "Dev@Acme.test", "developer").await;
    assert_eq!(dev.email, "Dev@Acme.test");
    let members = app.req(Method::GET, &base, Some(&org.owner), None).await;
    let dev_id = members.body[1]["user_id"].as_str().unwrap().to_owned();
    assert_eq!(members.body[1]["email"], "dev@acme.test");
    let again = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/invitations", org.org_id),
            Some(&org.owner),
            Some(json!({"email": "dev@acme.test", "role": "viewer", "password": PASSWORD})),
        )
        .await;
    assert_eq!(again.status, 409, "a member cannot be invited again");
    let r = app
        .req(
            Method::PATCH,
            &format!("{base}/{dev_id}"),
            Some(&org.owner),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (401, "password_confirmation_failed")
    );
    let r = app
        .req(
            Method::PATCH,
            &format!("{base}/{dev_id}"),
            Some(&org.owner),
            Some(json!({"role": "admin", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["role"].as_str(), r.body["email"].as_str()),
        (Some("admin"), Some("dev@acme.test"))
    );
    let admin = app.sign_in("dev@acme.test", PASSWORD).await;
    let members = app.req(Method::GET, &base, Some(&admin), None).await;
    let roles: Vec<(String, String)> = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("owner@acme.test".into(), "owner".into()),
            ("dev@acme.test".into(), "admin".into())
        ]
    );
    let owner_id = members.body[0]["user_id"].as_str().unwrap().to_owned();
    let r = app
        .req(
            Method::DELETE,
            &format!("{base}/{owner_id}"),
            Some(&admin),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = app
        .req(
            Method::PATCH,
            &format!("{base}/{owner_id}"),
            Some(&admin),
            Some(json!({"role": "viewer", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = app
        .req(
            Method::PATCH,
            &format!("{base}/{dev_id}"),
            Some(&org.owner),
            Some(json!({"role": "owner", "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["source"].as_str()),
        (400, Some("role"))
    );
    let r = app
        .req(
            Method::DELETE,
            &format!("{base}/{dev_id}"),
            Some(&org.owner),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 401, "removal needs the password");
    let r = app
        .req(
            Method::DELETE,
            &format!("{base}/{dev_id}"),
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/api-keys", org.org_id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        r.status, 404,
        "a removed member no longer sees the organization"
    );
}

#[tokio::test]
async fn new_users_choose_a_password_of_15_to_256_characters_when_accepting() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/invitations", org.org_id),
            Some(&org.owner),
            Some(json!({"email": "new@acme.test", "role": "viewer", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let link = app.mailed_link("new@acme.test", "/app/invitations/").await;
    let token = link.rsplit('/').next().unwrap();
    for (pw, status) in [
        ("a".repeat(14), 400),
        ("b".repeat(257), 400),
        ("c".repeat(256), 201),
    ] {
        let r = app
            .req(
                Method::POST,
                "/dev/v1/invitations/accept",
                None,
                Some(json!({"token": token, "password": pw})),
            )
            .await;
        assert_eq!(r.status, status, "{}: {}", pw.len(), r.body);
        if status == 400 {
            assert_eq!(r.body["source"], "password");
        }
    }
    app.sign_in("new@acme.test", &"c".repeat(256)).await;
    let truncated = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "new@acme.test", "password": "c".repeat(255)})),
        )
        .await;
    assert_eq!(truncated.status, 401, "passwords are never truncated");
}

#[tokio::test]
async fn developers_and_viewers_cannot_manage_members_or_accounts() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    for role in ["developer", "viewer"] {
        let email = format!("{role}@acme.test");
        let s = app.invite_member(&org, &email, role).await;
        let r = app
            .req(
                Method::GET,
                &format!("/dev/v1/orgs/{}/members", org.org_id),
                Some(&s),
                None,
            )
            .await;
        assert_eq!(r.status, 403);
        let r = app
            .req(
                Method::POST,
                &format!("/dev/v1/orgs/{}/accounts", org.org_id),
                Some(&s),
                Some(json!({"name": "X"})),
            )
            .await;
        assert_eq!(r.status, 403);
        let r = app
            .req(
                Method::GET,
                &format!("/dev/v1/orgs/{}/accounts", org.org_id),
                Some(&s),
                None,
            )
            .await;
        assert_eq!(r.status, 200);
    }
}

#[tokio::test]
async fn accounts_are_created_and_listed_by_owners() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let path = format!("/dev/v1/orgs/{}/accounts", org.org_id);
    let r = app
        .req(
            Method::POST,
            &path,
            Some(&org.owner),
            Some(json!({"name": "Acme SG", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(r.body["account_id"].as_str().unwrap().starts_with("acct_"));
    let list = app.req(Method::GET, &path, Some(&org.owner), None).await;
    let names: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["HK", "Acme SG"]);
    let r = app
        .req(
            Method::POST,
            &path,
            Some(&org.owner),
            Some(json!({"name": "", "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["source"].as_str()),
        (400, Some("name"))
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let r = app.req(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = r.body["paths"].as_object().unwrap();
    for p in [
        "/api/v1/authentication/login",
        "/dev/v1/sessions",
        "/dev/v1/orgs/{org_id}/api-keys",
        "/dev/v1/orgs/{org_id}/admin-keys",
        "/dev/v1/orgs/{org_id}/admin-keys/{client_id}/regenerate",
        "/dev/v1/orgs/{org_id}/scoped-keys/{client_id}/duplicate",
        "/dev/v1/orgs/{org_id}/audit-events",
        "/auth/verify",
        "/oauth/introspect",
    ] {
        assert!(paths.contains_key(p), "{p} missing from openapi.json");
    }
}

#[tokio::test]
async fn the_resource_catalog_is_listed_with_levels() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let r = app
        .req(Method::GET, "/dev/v1/resources", Some(&org.owner), None)
        .await;
    let list = r.body.as_array().unwrap();
    assert!(list.len() >= 20);
    let find = |n: &str| list.iter().find(|x| x["name"] == n).unwrap()["level"].clone();
    assert_eq!(find("billing_invoices"), "org");
    assert_eq!(find("payment_intents"), "account");
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json_errors() {
    let app = spawn_app().await;
    let r = app.req(Method::GET, "/nope", None, None).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"));
    let r = app
        .req(Method::GET, "/api/v1/authentication/login", None, None)
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (405, "method_not_allowed"));
    let r = app.req(Method::GET, "/dev/v1/me", None, None).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "unauthorized"));
}

mod audit_log;
