//! Enforced SSO: members sign in only through the provider; the owner keeps
//! the password.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app_with};

use super::{Web, provider, put, role_of, settings, signed_in, through};

#[tokio::test]
async fn enforced_sso_keeps_members_off_the_password_except_the_owner() {
    let app = spawn_app_with(&["--allow-insecure-issuers"], &[]).await;
    let Some(p) = provider(&app, "127.0.0.1", "sso enforcement") else {
        return;
    };
    let org = app
        .create_org("Example", "owner@example.test", &["Main"])
        .await;
    app.invite_member(&org, "pat@example.test", "admin").await;
    app.invite_member(&org, "contractor@outside.test", "developer")
        .await;
    let r = put(&app, &org, settings(&p.issuer, true)).await;
    assert_eq!((r.status.as_u16(), &r.body["enforce"]), (200, &json!(true)));
    let sign_in = |email: &'static str| {
        let body = json!({"email": email, "password": PASSWORD});
        app.req(Method::POST, "/dev/v1/sessions", None, Some(body))
    };
    let r = sign_in("pat@example.test").await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "sso_required"));
    assert_eq!(
        sign_in("owner@example.test").await.status,
        201,
        "the owner is the break-glass account"
    );
    assert_eq!(sign_in("contractor@outside.test").await.status, 201);
    // The app's sign-in form sends pat on to single sign-on.
    let mut web = Web::new();
    let form = web.get(&format!("{}/app/sign-in", app.base)).await;
    let csrf = form
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let fields = [
        ("csrf", csrf.as_str()),
        ("email", "pat@example.test"),
        ("password", PASSWORD),
    ];
    let r = web
        .request(
            Method::POST,
            &format!("{}/app/sign-in", app.base),
            Some(&fields),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.body
            .contains("href=\"/app/sso/start?email=pat%40example.test\""),
        "{}",
        r.body
    );
    assert!(
        !r.set_cookies
            .iter()
            .any(|c| c.starts_with("keygate_session="))
    );
    // Through the provider pat signs in, still an admin.
    let o = through(&app, &p, "pat@example.test", "pat", false).await;
    assert!(signed_in(&o), "{}", o.callback.body);
    assert_eq!(
        role_of(&app, &org, "pat@example.test").await.as_deref(),
        Some("admin")
    );
    // Turning it off needs the password; then passwords work again.
    let path = format!("/dev/v1/orgs/{}/sso", org.org_id);
    let r = app
        .req(Method::DELETE, &path, Some(&org.owner), Some(json!({})))
        .await;
    assert_eq!(r.code(), "password_confirmation_failed");
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
        app.req(Method::GET, &path, Some(&org.owner), None)
            .await
            .status,
        404
    );
    assert_eq!(sign_in("pat@example.test").await.status, 201);
    let none = Web::new()
        .get(&format!(
            "{}/app/sso/start?email=pat@example.test",
            app.base
        ))
        .await;
    assert_eq!(none.status, 404);
    let events = app.audit_events(&org, "limit=50").await;
    assert!(events.iter().any(|e| e["action"] == "sso.deleted"));
}
