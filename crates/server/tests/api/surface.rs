//! The management API's trust surface: only `Authorization: Bearer` (never
//! the Developer app's cookie), only JSON bodies, and the acting user's
//! password on every member, account and webhook change.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const WRONG: &str = "not-the-owner-password-1";

async fn member_emails(app: &TestApp, org: &Org) -> Vec<String> {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/members", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{} {}", m["email"], m["role"]))
        .collect()
}

#[tokio::test]
async fn the_session_cookie_never_authenticates_the_json_api() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let before = member_emails(&app, &org).await;
    let path = format!("{}/dev/v1/orgs/{}/invitations", app.base, org.org_id);
    // What a page on a sibling subdomain can send without a preflight: the
    // browser's cookie, a text/plain body, its own Origin.
    let body =
        json!({"email": "mallory@evil.test", "role": "admin", "password": PASSWORD}).to_string();
    for name in ["keygate_session", "__Host-keygate_session"] {
        for content_type in ["text/plain", "application/json"] {
            let r = app
                .send(
                    app.http
                        .post(&path)
                        .header("cookie", format!("{name}={}", org.owner.token))
                        .header("content-type", content_type)
                        .header("origin", "https://evil.acme.test")
                        .body(body.clone()),
                )
                .await;
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (401, "unauthorized"),
                "{name} {content_type}"
            );
        }
        let me = app
            .send(
                app.http
                    .get(format!("{}/dev/v1/me", app.base))
                    .header("cookie", format!("{name}={}", org.owner.token)),
            )
            .await;
        assert_eq!(me.status, 401, "{name} on GET /dev/v1/me");
    }
    assert_eq!(member_emails(&app, &org).await, before, "nobody was added");
    let me = app
        .req(Method::GET, "/dev/v1/me", Some(&org.owner), None)
        .await;
    assert_eq!(me.status, 200, "the same token works as a bearer token");
}

#[tokio::test]
async fn every_json_route_refuses_bodies_that_are_not_declared_json() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let o = &org.org_id;
    let (cid, usr, whk, dlv) = (
        "cid_0000000000000000000000",
        "usr_0000000000000000000000",
        "whk_0000000000000000000000",
        "dlv_0000000000000000000000",
    );
    // Every POST/PATCH/DELETE family that reads a JSON body.
    let routes = [
        (Method::POST, "/dev/v1/sessions".to_owned()),
        (Method::POST, format!("/dev/v1/orgs/{o}/accounts")),
        (Method::POST, format!("/dev/v1/orgs/{o}/invitations")),
        (
            Method::DELETE,
            format!("/dev/v1/orgs/{o}/invitations/inv_0000000000000000000000"),
        ),
        (Method::POST, "/dev/v1/invitations/accept".to_owned()),
        (Method::POST, "/dev/v1/password-resets".to_owned()),
        (Method::POST, "/dev/v1/password-resets/complete".to_owned()),
        (Method::POST, "/dev/v1/me/password".to_owned()),
        (Method::PATCH, format!("/dev/v1/orgs/{o}/members/{usr}")),
        (Method::DELETE, format!("/dev/v1/orgs/{o}/members/{usr}")),
        (Method::POST, format!("/dev/v1/orgs/{o}/admin-keys")),
        (
            Method::POST,
            format!("/dev/v1/orgs/{o}/admin-keys/{cid}/regenerate"),
        ),
        (Method::POST, format!("/dev/v1/orgs/{o}/scoped-keys")),
        (Method::PATCH, format!("/dev/v1/orgs/{o}/scoped-keys/{cid}")),
        (
            Method::DELETE,
            format!("/dev/v1/orgs/{o}/scoped-keys/{cid}"),
        ),
        (
            Method::POST,
            format!("/dev/v1/orgs/{o}/scoped-keys/{cid}/regenerate"),
        ),
        (
            Method::POST,
            format!("/dev/v1/orgs/{o}/scoped-keys/{cid}/duplicate"),
        ),
        (Method::POST, format!("/dev/v1/orgs/{o}/webhooks")),
        (Method::PATCH, format!("/dev/v1/orgs/{o}/webhooks/{whk}")),
        (Method::DELETE, format!("/dev/v1/orgs/{o}/webhooks/{whk}")),
        (
            Method::POST,
            format!("/dev/v1/orgs/{o}/deliveries/{dlv}/redeliver"),
        ),
    ];
    let body = json!({"password": PASSWORD}).to_string();
    for (method, path) in &routes {
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/jsonx"),
            None,
        ] {
            let mut rb = app
                .http
                .request(method.clone(), format!("{}{path}", app.base))
                .bearer_auth(&org.owner.token)
                .body(body.clone());
            if let Some(ct) = content_type {
                rb = rb.header("content-type", ct);
            }
            let r = app.send(rb).await;
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (415, "unsupported_media_type"),
                "{method} {path} with {content_type:?}"
            );
            assert_eq!(r.body["source"], "content-type");
        }
    }
    // `application/json` with parameters is JSON.
    let r = app
        .send(
            app.http
                .post(format!("{}/dev/v1/orgs/{o}/accounts", app.base))
                .bearer_auth(&org.owner.token)
                .header("content-type", "Application/JSON; charset=utf-8")
                .body(json!({"name": "SG", "password": PASSWORD}).to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let accounts = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{o}/accounts"),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(
        accounts.body.as_array().unwrap().len(),
        2,
        "only the JSON request created an account"
    );
}

/// Sends `body` without a password, with a wrong one, and with the right
/// one; the first two must be 401 `password_confirmation_failed`.
async fn refused_without_password(
    app: &TestApp,
    org: &Org,
    method: Method,
    path: &str,
    body: Value,
) {
    for password in [None, Some(WRONG)] {
        let mut b = body.clone();
        if let Some(p) = password {
            b["password"] = p.into();
        }
        let r = app
            .req(method.clone(), path, Some(&org.owner), Some(b))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (401, "password_confirmation_failed"),
            "{method} {path} with {password:?}"
        );
    }
}

async fn with_password(app: &TestApp, org: &Org, method: Method, path: &str, body: Value) -> Resp {
    let mut b = body;
    b["password"] = PASSWORD.into();
    app.req(method, path, Some(&org.owner), Some(b)).await
}

#[tokio::test]
async fn member_changes_need_the_current_password_and_change_nothing_without_it() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let base = format!("/dev/v1/orgs/{}/members", org.org_id);
    let owner_only = member_emails(&app, &org).await;

    let invitations = format!("/dev/v1/orgs/{}/invitations", org.org_id);
    let add = json!({"email": "dev@acme.test", "role": "developer"});
    refused_without_password(&app, &org, Method::POST, &invitations, add.clone()).await;
    let r = app
        .req(Method::GET, &invitations, Some(&org.owner), None)
        .await;
    assert_eq!(r.body, json!([]), "nobody was invited");
    app.invite_member(&org, "dev@acme.test", "developer").await;
    let members = app.req(Method::GET, &base, Some(&org.owner), None).await;
    let dev = format!("{base}/{}", members.body[1]["user_id"].as_str().unwrap());
    let with_dev = member_emails(&app, &org).await;
    assert_eq!(with_dev.len(), 2);
    assert_ne!(with_dev, owner_only);

    refused_without_password(&app, &org, Method::PATCH, &dev, json!({"role": "admin"})).await;
    assert_eq!(member_emails(&app, &org).await, with_dev);
    let r = with_password(&app, &org, Method::PATCH, &dev, json!({"role": "admin"})).await;
    assert_eq!(
        (r.status.as_u16(), r.body["role"].as_str()),
        (200, Some("admin"))
    );

    let with_admin = member_emails(&app, &org).await;
    refused_without_password(&app, &org, Method::DELETE, &dev, json!({})).await;
    assert_eq!(member_emails(&app, &org).await, with_admin);
    let r = with_password(&app, &org, Method::DELETE, &dev, json!({})).await;
    assert_eq!(r.status, 204);
    assert_eq!(member_emails(&app, &org).await, owner_only);
}

#[tokio::test]
async fn account_and_webhook_changes_need_the_current_password() {
    let app = spawn_app_with(&["--allow-insecure-webhooks"], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let accounts = format!("/dev/v1/orgs/{}/accounts", org.org_id);
    let count = |path: String| {
        let app = &app;
        let org = &org;
        async move {
            let r = app.req(Method::GET, &path, Some(&org.owner), None).await;
            r.body.as_array().unwrap().clone()
        }
    };
    refused_without_password(&app, &org, Method::POST, &accounts, json!({"name": "SG"})).await;
    assert_eq!(count(accounts.clone()).await.len(), 1);
    let r = with_password(&app, &org, Method::POST, &accounts, json!({"name": "SG"})).await;
    assert_eq!(r.status, 201);

    let hooks = format!("/dev/v1/orgs/{}/webhooks", org.org_id);
    let hook = json!({"url": "http://127.0.0.1:9/in", "events": ["scoped_key.created"]});
    refused_without_password(&app, &org, Method::POST, &hooks, hook.clone()).await;
    assert!(count(hooks.clone()).await.is_empty());
    let r = with_password(&app, &org, Method::POST, &hooks, hook).await;
    assert_eq!(r.status, 201);
    let one = format!("{hooks}/{}", r.body["webhook_id"].as_str().unwrap());
    refused_without_password(&app, &org, Method::PATCH, &one, json!({"enabled": false})).await;
    assert_eq!(count(hooks.clone()).await[0]["enabled"], true);
    refused_without_password(&app, &org, Method::DELETE, &one, json!({})).await;
    assert_eq!(count(hooks.clone()).await.len(), 1);
    let r = with_password(&app, &org, Method::DELETE, &one, json!({})).await;
    assert_eq!(r.status, 204);
    assert!(count(hooks).await.is_empty());
}

/// The scenario: a session token alone (no password) used to add a
/// member with a chosen password, sign in as it and regenerate the org's
/// admin key. (Members now join only by invitation; inviting needs the
/// password too.)
#[tokio::test]
async fn a_stolen_session_token_cannot_add_a_member_and_take_the_admin_key() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = app.admin_key(&org, &org.org_id).await;
    let stolen = Session {
        token: org.owner.token.clone(),
        email: String::new(),
    };
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/invitations", org.org_id),
            Some(&stolen),
            Some(json!({"email": "mallory@evil.test", "role": "admin"})),
        )
        .await;
    assert_eq!(r.code(), "password_confirmation_failed");
    let sign_in = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "mallory@evil.test", "password": "mallory-chose-this-1"})),
        )
        .await;
    assert_eq!(sign_in.status, 401, "no such member was created");
    let r = app
        .req(
            Method::POST,
            &format!(
                "/dev/v1/orgs/{}/admin-keys/{}/regenerate",
                org.org_id,
                cid(&key)
            ),
            Some(&stolen),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.code(), "password_confirmation_failed");
    assert_eq!(app.login(cid(&key), secret(&key), None).await.status, 201);
}

#[tokio::test]
async fn the_openapi_document_says_bearer_only_and_password_on_changes() {
    let app = spawn_app().await;
    let doc = app.req(Method::GET, "/openapi.json", None, None).await.body;
    let scheme = &doc["components"]["securitySchemes"]["session"];
    assert_eq!(
        (scheme["type"].as_str(), scheme["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
    let member = &doc["paths"]["/dev/v1/orgs/{org_id}/members/{user_id}"];
    for op in ["patch", "delete"] {
        assert_eq!(member[op]["security"][0]["session"], json!([]), "{op}");
    }
    assert!(
        doc["paths"]["/dev/v1/sessions"]["post"]
            .get("security")
            .is_none()
    );
    for schema in [
        "InvitationCreate",
        "MemberPatch",
        "AccountCreate",
        "WebhookCreate",
        "PasswordConfirmation",
    ] {
        assert!(
            doc["components"]["schemas"][schema]["properties"]
                .get("password")
                .is_some(),
            "{schema}"
        );
    }
}
