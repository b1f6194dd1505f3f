//! Single sign-on in headless Chromium: the sign-in page's "Sign in with
//! SSO" form, the real provider's login form (on `localhost`, another site
//! than Keygate on 127.0.0.1, so the pending sign-in's cookie must be
//! `SameSite=Lax` to come back), and the app signed in; then an enforced
//! member's password sign-in sends the browser on to single sign-on.

use std::time::Duration;

use fantoccini::Locator;
use reqwest::Method;
use serde_json::json;

use super::browser;
use crate::helpers::{PASSWORD, spawn_app_with};
use crate::sso::{put, settings};

#[tokio::test]
async fn a_person_signs_in_through_the_provider_from_the_sign_in_page() {
    let app = spawn_app_with(&["--allow-insecure-issuers"], &[]).await;
    let Some(p) = crate::sso::provider(&app, "localhost", "ui sso") else {
        return;
    };
    let org = app
        .create_org("Example", "owner@example.test", &["Main"])
        .await;
    assert_eq!(
        put(&app, &org, settings(&p.issuer, false)).await.status,
        200
    );
    let Some(b) = browser(&app, "sso").await else {
        return;
    };
    b.go("/app/sign-in").await;
    b.fill("#sso-email", "newdev@example.test").await;
    b.click("#sso-form button[type=submit]").await;
    // At the provider's login form (its own origin).
    let login =
        b.c.wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css("input[name=login]"))
            .await
            .unwrap_or_else(|e| panic!("no provider login form: {e}"));
    assert!(
        b.c.current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&p.issuer)
    );
    b.shot("sso-provider").await;
    login.send_keys("newdev").await.unwrap();
    b.fill("input[name=password]", "any password").await;
    b.click("form button[type=submit]").await;
    b.wait_for_text("newdev@example.test").await;
    assert!(
        b.path().await.starts_with("/app/orgs/"),
        "{}",
        b.path().await
    );
    b.shot("sso-signed-in").await;
    let console = b.console().await;
    assert!(
        !console
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "{console:?}"
    );

    // Enforced: pat's password sign-in leads on to single sign-on.
    app.invite_member(&org, "pat@example.test", "admin").await;
    assert_eq!(put(&app, &org, settings(&p.issuer, true)).await.status, 200);
    b.c.delete_all_cookies().await.unwrap();
    b.go("/app/sign-in").await;
    b.fill("#email", "pat@example.test").await;
    b.fill("#password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    b.wait_for_text("signs you in through its identity provider")
        .await;
    // A link on (not a redirect of the posted form, which `form-action 'self'`
    // would stop at the provider).
    let next = b
        .css("#sso-required-continue")
        .await
        .attr("href")
        .await
        .unwrap();
    assert_eq!(
        next.as_deref(),
        Some("/app/sso/start?email=pat%40example.test")
    );
    assert_eq!(b.path().await, "/app/sign-in");
    let r = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "pat@example.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.code(), "sso_required");
}
