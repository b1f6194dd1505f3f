//! Rate limits in the Developer app: a scoped key's own limit in the key form
//! (set, shown on the key's page, held at forward-auth, copied by Duplicate,
//! cleared by Edit) and the organization's default on the settings page.

use reqwest::Method;
use serde_json::json;

use super::{Browser, api_scoped_key, browser, org_with_two_accounts};
use crate::helpers::{Org, PASSWORD, TestApp, cid, spawn_app};

/// A token of the key, for an organization-level scope.
pub(super) async fn token(app: &TestApp, client_id: &str, api_key: &str) -> String {
    let r = app.login(client_id, api_key, None).await;
    assert_eq!(r.status, 201, "login: {}", r.body);
    r.body["token"].as_str().unwrap().to_owned()
}

/// Forward-auth of an invoice read: the status and the Retry-After header.
pub(super) async fn verify(app: &TestApp, token: &str) -> (u16, Option<String>) {
    let r = app
        .send(
            app.http
                .get(format!("{}/auth/verify", app.base))
                .bearer_auth(token)
                .header("x-original-method", "GET")
                .header("x-original-uri", "/api/v1/invoices/inv_1"),
        )
        .await;
    let retry = r
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (r.status.as_u16(), retry)
}

/// `allowed` calls pass, the next one is refused with 429 and Retry-After.
pub(super) async fn holds(app: &TestApp, token: &str, allowed: usize) {
    for n in 1..=allowed {
        assert_eq!(verify(app, token).await.0, 200, "call {n} of {allowed}");
    }
    let (status, retry) = verify(app, token).await;
    assert_eq!(status, 429, "the call past the limit");
    let secs: u32 = retry.expect("Retry-After").parse().unwrap();
    assert!(secs >= 1, "Retry-After: {secs}");
}

pub(super) async fn key_page(b: &Browser, org: &Org, client_id: &str) -> String {
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys/{client_id}",
        org.org_id
    ))
    .await;
    b.wait_for_text("Calls in the last 24 hours").await;
    b.css("#key-rate-limit").await.text().await.unwrap()
}

#[tokio::test]
async fn the_key_form_sets_a_rate_limit_that_forward_auth_holds_and_edit_clears() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let Some(b) = browser(&app, "rate_limit_form").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.click_text("a", "New scoped API key").await;
    b.wait_for_text("Rate limit").await;
    let hint = b.css("#rate-hint").await.text().await.unwrap();
    assert!(
        hint.contains("the organization default then applies, and none is set"),
        "{hint}"
    );

    // 0 requests: the error beside the field, everything typed kept.
    b.fill("#name", "Invoice reader").await;
    b.click("#org-billing_invoices-read").await;
    b.fill("#allowed_networks", "127.0.0.0/8").await;
    b.fill("#rate_limit_requests", "0").await;
    b.fill("#rate_limit_per_seconds", "3600").await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Create").await;
    b.wait_for_text("Requests: must be a whole number from 1 to")
        .await;
    b.c.execute(
        "document.getElementById('rate-head').scrollIntoView();",
        vec![],
    )
    .await
    .unwrap();
    b.shot("key-form-rate-limit-error").await;
    assert_eq!(b.value("#name").await, "Invoice reader");
    assert_eq!(b.value("#allowed_networks").await, "127.0.0.0/8");
    assert_eq!(b.value("#rate_limit_requests").await, "0");
    assert_eq!(b.value("#rate_limit_per_seconds").await, "3600");
    let checked = b.css("#org-billing_invoices-read").await;
    assert_eq!(
        checked.prop("checked").await.unwrap().as_deref(),
        Some("true")
    );
    let none = super::keys_of(&app, &org).await;
    assert_eq!(none["scoped_keys"], json!([]), "nothing was created");

    // 3 per hour: created, shown on the key's page, held at forward-auth.
    b.fill("#rate_limit_requests", "3").await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Create").await;
    let (client_id, api_key) = b.revealed(&app).await;
    assert_eq!(
        app.get_scoped_key(&org, &client_id).await["rate_limit"],
        json!({"requests": 3, "per_seconds": 3600})
    );
    assert_eq!(
        key_page(&b, &org, &client_id).await,
        "3 requests per 3600 seconds"
    );
    assert_eq!(b.css("#key-expiry").await.text().await.unwrap(), "Never");
    assert_eq!(
        b.css("#key-networks").await.text().await.unwrap(),
        "127.0.0.0/8"
    );
    assert_eq!(b.css("#key-exposed").await.text().await.unwrap(), "No");
    b.shot_full("key-page-rate-limit", 1600).await;
    holds(&app, &token(&app, &client_id, &api_key).await, 3).await;

    // Duplicate copies the limit.
    b.open_api_keys().await;
    b.menu("Invoice reader", "Duplicate").await;
    b.confirm(PASSWORD, "Duplicate").await;
    let (copy, _) = b.revealed(&app).await;
    assert_eq!(
        app.get_scoped_key(&org, &copy).await["rate_limit"],
        json!({"requests": 3, "per_seconds": 3600})
    );

    // Edit shows the limit; emptying both fields removes it.
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys/{client_id}/edit",
        org.org_id
    ))
    .await;
    b.wait_for_text("Edit API key").await;
    assert_eq!(b.value("#rate_limit_requests").await, "3");
    assert_eq!(b.value("#rate_limit_per_seconds").await, "3600");
    b.fill("#rate_limit_requests", "").await;
    b.fill("#rate_limit_per_seconds", "").await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Save changes").await;
    b.wait_for_text("API key updated").await;
    assert!(app.get_scoped_key(&org, &client_id).await["rate_limit"].is_null());
    assert_eq!(key_page(&b, &org, &client_id).await, "None");
    let fresh = token(&app, &client_id, &api_key).await;
    assert_eq!(verify(&app, &fresh).await.0, 200, "no limit any more");
    b.close().await;
}

#[tokio::test]
async fn owners_set_the_default_rate_limit_on_the_settings_page() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let plain = api_scoped_key(&app, &org, "No limit of its own").await;
    let Some(b) = browser(&app, "org_rate_limit").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.go(&format!("/app/orgs/{}/settings", org.org_id)).await;
    b.wait_for_text("Default rate limit").await;
    assert_eq!(
        b.css("#org-rate-limit-now").await.text().await.unwrap(),
        "None"
    );

    // A window of 0 seconds: the error beside it, the requests kept.
    b.fill("#rate_limit_requests", "2").await;
    b.fill("#rate_limit_per_seconds", "0").await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Save default rate limit").await;
    b.wait_for_text("Per seconds: must be a whole number of seconds from 1 to 86400")
        .await;
    assert_eq!(b.value("#rate_limit_requests").await, "2");
    let url = format!("/dev/v1/orgs/{}/rate-limit", org.org_id);
    let unset = app.req(Method::GET, &url, Some(&org.owner), None).await;
    assert!(unset.body["rate_limit"].is_null(), "nothing was written");

    // A wrong password changes nothing either.
    b.fill("#rate_limit_per_seconds", "3600").await;
    b.fill("#password", "not the password").await;
    b.click_text("button", "Save default rate limit").await;
    b.wait_for_text("That password is not correct").await;
    assert_eq!(b.value("#rate_limit_per_seconds").await, "3600");

    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Save default rate limit").await;
    b.wait_for_text("Default rate limit saved.").await;
    assert_eq!(
        b.css("#org-rate-limit-now").await.text().await.unwrap(),
        "2 requests per 3600 seconds"
    );
    b.shot_full("settings-default-rate-limit", 1600).await;
    let set = app.req(Method::GET, &url, Some(&org.owner), None).await;
    assert_eq!(
        set.body["rate_limit"],
        json!({"requests": 2, "per_seconds": 3600})
    );

    // A key without a limit of its own shows the default, and is held to it.
    assert_eq!(
        key_page(&b, &org, cid(&plain)).await,
        "Organization default: 2 requests per 3600 seconds"
    );
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys/new",
        org.org_id
    ))
    .await;
    b.wait_for_text("Rate limit").await;
    let hint = b.css("#rate-hint").await.text().await.unwrap();
    assert!(
        hint.contains("the organization default then applies: 2 requests per 3600 seconds"),
        "{hint}"
    );
    let t = token(&app, cid(&plain), crate::helpers::secret(&plain)).await;
    holds(&app, &t, 2).await;
    b.close().await;
}
