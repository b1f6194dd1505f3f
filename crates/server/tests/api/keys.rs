//! Every key action of the reference page, with its failures.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// Asks forward-auth whether `token` may GET `path` (the token check, exposed).
pub async fn verify(app: &TestApp, token: &str, method: &str, path: &str) -> u16 {
    app.http
        .get(format!("{}/auth/verify", app.base))
        .bearer_auth(token)
        .header("x-original-method", method)
        .header("x-original-uri", path)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn key_path(org: &Org, kind: &str, client_id: &str, action: &str) -> String {
    format!("/dev/v1/orgs/{}/{kind}/{client_id}{action}", org.org_id)
}

async fn list(app: &TestApp, org: &Org) -> Value {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/api-keys", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    r.body
}

fn one_account(acct: &str, resource: &str, access: &str) -> Value {
    json!({"accounts": [acct], "resources": perms(&[(resource, access)])})
}

#[tokio::test]
async fn generating_an_admin_key_shows_the_secret_once_and_a_second_is_a_conflict() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = app.admin_key(&org, &org.org_id).await;
    assert!(secret(&key).starts_with("kg_live_"));
    assert_eq!(key["kind"], "admin");
    let again = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/admin-keys", org.org_id),
            Some(&org.owner),
            Some(json!({"owner_id": org.org_id, "password": PASSWORD})),
        )
        .await;
    assert_eq!((again.status.as_u16(), again.code()), (409, "conflict"));
    let listed = list(&app, &org).await;
    assert_eq!(listed["admin_keys"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(secret(&key)));
    assert!(listed["admin_keys"][0].get("api_key").is_none());
}

#[tokio::test]
async fn a_wrong_or_missing_password_changes_nothing() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let sk = app.scoped_key(&org, json!({"name": "k", "account_permissions": one_account(&org.accounts[0], "balances", "read")})).await;
    let attempts = [
        (
            Method::POST,
            format!("/dev/v1/orgs/{}/admin-keys", org.org_id),
            json!({"owner_id": org.org_id, "password": "wrong-password-123456"}),
        ),
        (
            Method::POST,
            format!("/dev/v1/orgs/{}/admin-keys", org.org_id),
            json!({"owner_id": org.org_id}),
        ),
        (
            Method::POST,
            format!("/dev/v1/orgs/{}/scoped-keys", org.org_id),
            json!({"name": "x", "org_permissions": perms(&[("accounts", "read")]), "password": "nope"}),
        ),
        (
            Method::POST,
            key_path(&org, "scoped-keys", cid(&sk), "/regenerate"),
            json!({"password": "wrong-password-123456"}),
        ),
        (
            Method::POST,
            key_path(&org, "scoped-keys", cid(&sk), "/duplicate"),
            json!({}),
        ),
        (
            Method::PATCH,
            key_path(&org, "scoped-keys", cid(&sk), ""),
            json!({"name": "renamed", "password": ""}),
        ),
        (
            Method::DELETE,
            key_path(&org, "scoped-keys", cid(&sk), ""),
            json!({"password": "wrong-password-123456"}),
        ),
    ];
    let before = list(&app, &org).await;
    for (m, path, body) in attempts {
        let r = app
            .req(m.clone(), &path, Some(&org.owner), Some(body))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (401, "password_confirmation_failed"),
            "{m} {path}"
        );
    }
    assert_eq!(list(&app, &org).await, before);
    assert_eq!(app.login(cid(&sk), secret(&sk), None).await.status, 201);
}

#[tokio::test]
async fn regenerate_keeps_the_client_id_and_kills_the_old_secret_and_its_tokens() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    for kind in ["admin", "scoped"] {
        let key = if kind == "admin" {
            app.admin_key(&org, &org.accounts[0]).await
        } else {
            app.scoped_key(&org, json!({"name": "k", "account_permissions": one_account(&org.accounts[0], "balances", "read")})).await
        };
        let old_token = app.token(&key, None).await;
        assert_eq!(
            verify(&app, &old_token, "GET", "/api/v1/balances/current").await,
            200
        );
        let r = app
            .req(
                Method::POST,
                &key_path(&org, &format!("{kind}-keys"), cid(&key), "/regenerate"),
                Some(&org.owner),
                Some(json!({"password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(cid(&r.body), cid(&key));
        assert_ne!(secret(&r.body), secret(&key));
        assert_eq!(app.login(cid(&key), secret(&key), None).await.status, 401);
        assert_eq!(
            verify(&app, &old_token, "GET", "/api/v1/balances/current").await,
            401
        );
        let new_token = app.token(&r.body, None).await;
        assert_eq!(
            verify(&app, &new_token, "GET", "/api/v1/balances/current").await,
            200
        );
    }
}

#[tokio::test]
async fn regenerate_through_the_wrong_kind_of_route_is_not_found() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let admin = app.admin_key(&org, &org.org_id).await;
    let r = app
        .req(
            Method::POST,
            &key_path(&org, "scoped-keys", cid(&admin), "/regenerate"),
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = app
        .req(
            Method::DELETE,
            &key_path(&org, "scoped-keys", cid(&admin), ""),
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        app.login(cid(&admin), secret(&admin), None).await.status,
        201
    );
}

#[tokio::test]
async fn duplicate_makes_a_new_client_id_with_the_same_scope_and_its_own_secret() {
    let app = spawn_app().await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["HK", "UK"])
        .await;
    let sk = app
        .scoped_key(&org, json!({"name": "billing-sync", "org_permissions": perms(&[("billing_invoices", "read")]),
            "account_permissions": {"accounts": &org.accounts, "resources": perms(&[("payment_intents", "write")])}}))
        .await;
    let r = app
        .req(
            Method::POST,
            &key_path(&org, "scoped-keys", cid(&sk), "/duplicate"),
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201);
    let dup = r.body;
    assert_ne!(cid(&dup), cid(&sk));
    assert_eq!(dup["name"], "billing-sync (copy)");
    assert_eq!(dup["org_permissions"], sk["org_permissions"]);
    assert_eq!(dup["account_permissions"], sk["account_permissions"]);
    assert_eq!(app.login(cid(&dup), secret(&sk), None).await.status, 401);
    app.req(
        Method::POST,
        &key_path(&org, "scoped-keys", cid(&sk), "/regenerate"),
        Some(&org.owner),
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(
        app.login(cid(&dup), secret(&dup), Some(&org.accounts[1]))
            .await
            .status,
        201
    );
    let named = app
        .req(
            Method::POST,
            &key_path(&org, "scoped-keys", cid(&sk), "/duplicate"),
            Some(&org.owner),
            Some(json!({"name": "second", "password": PASSWORD})),
        )
        .await;
    assert_eq!(named.body["name"], "second");
}

#[tokio::test]
async fn edit_keeps_the_secret_and_the_new_scope_bites_at_once() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let a = &org.accounts[0];
    let sk = app
        .scoped_key(
            &org,
            json!({"name": "k", "account_permissions": one_account(a, "balances", "write")}),
        )
        .await;
    let token = app.token(&sk, None).await;
    assert_eq!(
        verify(&app, &token, "POST", "/api/v1/balances/x").await,
        200
    );
    let r = app
        .req(Method::PATCH, &key_path(&org, "scoped-keys", cid(&sk), ""), Some(&org.owner),
             Some(json!({"name": "reader", "account_permissions": one_account(a, "balances", "read"), "password": PASSWORD})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "reader");
    assert!(r.body.get("api_key").is_none());
    assert_eq!(
        verify(&app, &token, "POST", "/api/v1/balances/x").await,
        403
    );
    assert_eq!(verify(&app, &token, "GET", "/api/v1/balances/x").await, 200);
    assert_eq!(app.login(cid(&sk), secret(&sk), None).await.status, 201);
    let got = app
        .req(
            Method::GET,
            &key_path(&org, "scoped-keys", cid(&sk), ""),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(
        got.body["account_permissions"]["resources"],
        perms(&[("balances", "read")])
    );
}

#[tokio::test]
async fn delete_kills_the_key_and_its_tokens() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let sk = app.scoped_key(&org, json!({"name": "k", "account_permissions": one_account(&org.accounts[0], "balances", "read")})).await;
    let token = app.token(&sk, None).await;
    let r = app
        .req(
            Method::DELETE,
            &key_path(&org, "scoped-keys", cid(&sk), ""),
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(app.login(cid(&sk), secret(&sk), None).await.status, 401);
    assert_eq!(verify(&app, &token, "GET", "/api/v1/balances/x").await, 401);
    let got = app
        .req(
            Method::GET,
            &key_path(&org, "scoped-keys", cid(&sk), ""),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(got.status, 404);
}

#[tokio::test]
async fn bad_scoped_key_input_is_a_clear_400_and_creates_nothing() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let other = app
        .create_org("Other", "owner@other.test", &["Other A"])
        .await;
    let path = format!("/dev/v1/orgs/{}/scoped-keys", org.org_id);
    let cases = [
        (
            json!({"name": "x", "org_permissions": perms(&[("no_such_resource", "read")])}),
            "org_permissions[0].resource",
        ),
        (
            json!({"name": "x", "org_permissions": perms(&[("balances", "read")])}),
            "org_permissions[0].resource",
        ),
        (
            json!({"name": "x", "account_permissions": one_account(&other.accounts[0], "balances", "read")}),
            "account_permissions.accounts",
        ),
        (json!({"name": "x"}), "org_permissions"),
        (
            json!({"name": "  ", "org_permissions": perms(&[("accounts", "read")])}),
            "name",
        ),
        (
            json!({"name": "x", "org_permissions": perms(&[("accounts", "read")]), "colour": "red"}),
            "colour",
        ),
    ];
    for (mut body, source) in cases {
        body["password"] = PASSWORD.into();
        let r = app
            .req(Method::POST, &path, Some(&org.owner), Some(body.clone()))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "validation_error"),
            "{body}"
        );
        assert_eq!(r.body["source"], source, "{body}");
    }
    let bad_access = app
        .req(Method::POST, &path, Some(&org.owner),
             Some(json!({"name": "x", "org_permissions": [{"resource": "accounts", "access": "admin"}], "password": PASSWORD})))
        .await;
    assert_eq!(bad_access.status, 400);
    let r = app
        .send(
            app.http
                .post(format!("{}{path}", app.base))
                .bearer_auth(&org.owner.token)
                .header("content-type", "application/json")
                .body("{\"name\": "),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_json"));
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(100 * 1024));
    let r = app
        .send(
            app.http
                .post(format!("{}{path}", app.base))
                .bearer_auth(&org.owner.token)
                .header("content-type", "application/json")
                .body(big),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (413, "payload_too_large"));
    assert_eq!(list(&app, &org).await["scoped_keys"], json!([]));
}

#[tokio::test]
async fn keys_scoped_to_all_accounts_include_accounts_created_later() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let sk = app.scoped_key(&org, json!({"name": "all", "account_permissions": {"accounts": "all", "resources": perms(&[("balances", "read")])}})).await;
    assert_eq!(sk["account_permissions"]["accounts"], "all");
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/accounts", org.org_id),
            Some(&org.owner),
            Some(json!({"name": "New", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201);
    let new_account = r.body["account_id"].as_str().unwrap();
    let token = app.token(&sk, Some(new_account)).await;
    assert_eq!(
        verify(&app, &token, "GET", "/api/v1/balances/current").await,
        200
    );
}

mod access;
