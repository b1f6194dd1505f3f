//! `POST /api/v1/authentication/login` and the `x-login-as` rules.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn org_admin_key_logs_in_for_the_org_with_an_airwallex_shaped_answer() {
    let app = spawn_app().await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    let key = app.admin_key(&org, &org.org_id).await;
    let r = app.login(cid(&key), secret(&key), None).await;
    assert_eq!(r.status, 201);
    let expires = r.body["expires_at"].as_str().unwrap();
    assert!(
        expires.ends_with("+0000") && expires.len() == 24,
        "{expires}"
    );
    assert_eq!(r.body["token"].as_str().unwrap().split('.').count(), 3);
}

#[tokio::test]
async fn org_admin_key_cannot_log_in_as_an_account() {
    let app = spawn_app().await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    let key = app.admin_key(&org, &org.org_id).await;
    let r = app
        .login(cid(&key), secret(&key), Some(&org.accounts[0]))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "login_as_not_allowed"));
}

#[tokio::test]
async fn account_admin_key_logs_in_without_or_with_its_own_account_only() {
    let app = spawn_app().await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["HK", "UK"])
        .await;
    let key = app.admin_key(&org, &org.accounts[0]).await;
    assert_eq!(app.login(cid(&key), secret(&key), None).await.status, 201);
    assert_eq!(
        app.login(cid(&key), secret(&key), Some(&org.accounts[0]))
            .await
            .status,
        201
    );
    let other = app
        .login(cid(&key), secret(&key), Some(&org.accounts[1]))
        .await;
    assert_eq!(other.status, 403);
}

#[tokio::test]
async fn scoped_key_login_follows_the_x_login_as_rules() {
    let app = spawn_app().await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["HK", "UK", "SG"])
        .await;
    let (a, b, c) = (&org.accounts[0], &org.accounts[1], &org.accounts[2]);
    let one = app
        .scoped_key(&org, json!({"name": "one", "account_permissions": {"accounts": [a], "resources": perms(&[("balances", "read")])}}))
        .await;
    let several = app
        .scoped_key(&org, json!({"name": "several", "account_permissions": {"accounts": [a, b], "resources": perms(&[("balances", "read")])}}))
        .await;
    let both = app
        .scoped_key(
            &org,
            json!({"name": "both", "org_permissions": perms(&[("billing_invoices", "read")]),
            "account_permissions": {"accounts": [a], "resources": perms(&[("balances", "read")])}}),
        )
        .await;

    // One account, no org permissions: x-login-as may be omitted.
    let t = app.login(cid(&one), secret(&one), None).await;
    assert_eq!(t.status, 201);
    assert_eq!(claims(&t.body["token"])["account_id"], json!(a));
    // Several accounts: with x-login-as that account; without it the org.
    let t = app.login(cid(&several), secret(&several), Some(b)).await;
    assert_eq!(claims(&t.body["token"])["account_id"], json!(b));
    let t = app.login(cid(&several), secret(&several), None).await;
    assert_eq!(t.status, 201);
    assert!(claims(&t.body["token"]).get("account_id").is_none());
    // Accounts plus org permissions: x-login-as gives both parts, omitted only the org part.
    let t = app.login(cid(&both), secret(&both), Some(a)).await;
    assert_eq!(
        claims(&t.body["token"])["scope"],
        "billing_invoices:read balances:read"
    );
    let t = app.login(cid(&both), secret(&both), None).await;
    assert_eq!(claims(&t.body["token"])["scope"], "billing_invoices:read");
    // An account outside the key, or of another organization: refused.
    assert_eq!(
        app.login(cid(&several), secret(&several), Some(c))
            .await
            .status,
        403
    );
    let other = app
        .create_org("Other", "owner@other.test", &["Other A"])
        .await;
    assert_eq!(
        app.login(cid(&several), secret(&several), Some(&other.accounts[0]))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn every_bad_credential_gets_the_same_401_body() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = app.admin_key(&org, &org.org_id).await;
    let sk = secret(&key);
    let typo = format!(
        "{}{}",
        &sk[..sk.len() - 1],
        if sk.ends_with('A') { 'B' } else { 'A' }
    );
    let other_valid_key = app.admin_key(&org, &org.accounts[0]).await;
    let cases = [
        app.login(cid(&key), &typo, None).await,
        app.login("cid_doesnotexist00000000000", sk, None).await,
        app.login("garbage", "garbage", None).await,
        app.login(cid(&key), secret(&other_valid_key), None).await,
        app.send(
            app.http
                .post(format!("{}/api/v1/authentication/login", app.base)),
        )
        .await,
    ];
    for r in &cases {
        assert_eq!(r.status, 401);
        assert_eq!(r.body, cases[0].body);
    }
    assert_eq!(cases[0].code(), "unauthorized");
}

#[tokio::test]
async fn login_ignores_authorization_api_version_and_body() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = app.admin_key(&org, &org.org_id).await;
    let r = app
        .send(
            app.http
                .post(format!("{}/api/v1/authentication/login", app.base))
                .header("x-client-id", cid(&key))
                .header("x-api-key", secret(&key))
                .header("authorization", "Bearer nonsense")
                .header("x-api-version", "2024-01-01")
                .body("not json at all"),
        )
        .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn repeated_failed_logins_are_rate_limited_with_retry_after() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = app.admin_key(&org, &org.org_id).await;
    let wrong = "kg_live_000000000000000000000000000000000000";
    let mut limited = None;
    for _ in 0..120 {
        let r = app.login(cid(&key), wrong, None).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("no 429 after 120 failed logins");
    assert_eq!(r.code(), "too_many_requests");
    assert!(r.headers.get("retry-after").is_some());
    // Failed logins are recorded in the audit log of the key's organization.
    let audit = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/audit-events?limit=5", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    let actions: Vec<&str> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"login.failed"), "{actions:?}");
}

#[tokio::test]
async fn jwks_publishes_the_ed25519_key_that_signs_tokens() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = app.admin_key(&org, &org.org_id).await;
    let token = app.token(&key, None).await;
    let header = decode_part(&token, 0);
    let jwks = app
        .req(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    let keys = jwks.body["keys"].as_array().unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert!(
        keys.iter()
            .any(|k| k["kid"] == header["kid"] && k["crv"] == "Ed25519")
    );
}

fn decode_part(token: &str, i: usize) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').nth(i).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn claims(token: &serde_json::Value) -> serde_json::Value {
    decode_part(token.as_str().unwrap(), 1)
}
