//! Key lifecycle in the Developer app: the Regenerate dialog's grace period
//! choice, and the expiry field of the scoped key form, in a real browser.

use serde_json::json;

use super::{browser, org_with_two_accounts};
use crate::helpers::{PASSWORD, cid, perms, spawn_app};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn the_regenerate_dialog_offers_a_grace_period_for_the_old_key() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let old = app
        .scoped_key(
            &org,
            json!({"name": "Rolling", "account_permissions": {"accounts": [org.accounts[0]], "resources": perms(&[("balances", "read")])}}),
        )
        .await;
    let Some(b) = browser(&app, "regenerate_grace").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;

    // Delete's dialog has no such choice.
    b.menu("Rolling", "Delete").await;
    assert!(!b.css("#confirm-grace").await.is_displayed().await.unwrap());
    b.click_text("dialog//button", "Cancel").await;

    b.menu("Rolling", "Regenerate").await;
    let select = b.css("#previous-secret-expires-in").await;
    assert!(select.is_displayed().await.unwrap());
    let options = b.css("#confirm-grace").await.text().await.unwrap();
    for choice in ["Immediately", "In 1 hour", "In 24 hours", "In 7 days"] {
        assert!(options.contains(choice), "{choice} in {options}");
    }
    assert_eq!(
        b.value("#previous-secret-expires-in").await,
        "0",
        "default: at once"
    );
    select.select_by_value("3600").await.unwrap();
    b.shot("regenerate-grace-dialog").await;
    b.confirm(PASSWORD, "Regenerate").await;
    let (client_id, new_key) = b.revealed(&app).await;
    assert_eq!(client_id, cid(&old));
    // The reveal says until when the old key works, and its curl example
    // names this Keygate.
    let old_key = b.css("#old-key").await.text().await.unwrap();
    assert!(old_key.contains("keep working until"), "{old_key}");
    let curl = b
        .css(".howto pre")
        .await
        .prop("textContent")
        .await
        .unwrap()
        .unwrap();
    assert!(
        curl.contains(&format!("{}/api/v1/authentication/login", app.base)),
        "{curl}"
    );

    // The old key keeps working for the hour, the new one works now.
    let acct = Some(org.accounts[0].as_str());
    assert_eq!(
        app.login(&client_id, old["api_key"].as_str().unwrap(), acct)
            .await
            .status,
        201
    );
    assert_eq!(app.login(&client_id, &new_key, acct).await.status, 201);
    let shown = app.get_scoped_key(&org, &client_id).await;
    let until =
        keygate_core::time::parse_rfc3339(shown["previous_secret_expires_at"].as_str().unwrap())
            .unwrap();
    assert!(
        (until - now_ms() - 3_600_000).abs() < 60_000,
        "about an hour: {shown}"
    );
    b.click_text("a", "Done").await;
    b.wait_for_text("Old secret works until").await;

    // Immediately (the default) kills the old key at once.
    b.menu("Rolling", "Regenerate").await;
    assert_eq!(
        b.value("#previous-secret-expires-in").await,
        "0",
        "the choice starts over"
    );
    b.confirm(PASSWORD, "Regenerate").await;
    let (_, newest) = b.revealed(&app).await;
    let old_key = b.css("#old-key").await.text().await.unwrap();
    assert!(old_key.contains("have stopped working"), "{old_key}");
    assert_eq!(app.login(&client_id, &new_key, acct).await.status, 401);
    assert_eq!(app.login(&client_id, &newest, acct).await.status, 201);
    b.close().await;
}

#[tokio::test]
async fn the_key_form_sets_and_clears_an_expiry_and_the_list_shows_it() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    // One key that expires in a moment, to be listed as expired.
    let soon_ms = now_ms() + 1500;
    let soon = keygate_core::time::format_rfc3339(soon_ms);
    let short = app
        .scoped_key(
            &org,
            json!({"name": "Short-lived", "expires_at": soon, "account_permissions": {"accounts": [org.accounts[0]], "resources": perms(&[("balances", "read")])}}),
        )
        .await;
    let Some(b) = browser(&app, "expiry_form").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.click_text("a", "New scoped API key").await;
    b.wait_for_text("Organization-level permissions").await;
    b.fill("#name", "Quarterly export").await;
    b.click("#org-billing_invoices-read").await;
    // A datetime-local field: its value is set the way the browser stores it.
    let set = |v: &'static str| {
        b.c.execute(
            "document.getElementById('expires_at').value = arguments[0];",
            vec![json!(v)],
        )
    };
    set("2001-01-01T00:00").await.unwrap();
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Create").await;
    b.wait_for_text("Expires: must be in the future").await;
    set("2031-01-02T03:04:05").await.unwrap();
    b.fill("#password", PASSWORD).await;
    b.shot_full("new-scoped-key-expiry", 1300).await;
    b.click_text("button", "Create").await;
    let (client_id, _) = b.revealed(&app).await;
    assert_eq!(
        app.get_scoped_key(&org, &client_id).await["expires_at"],
        "2031-01-02T03:04:05.000Z"
    );

    b.click_text("a", "Done").await;
    b.wait_for_text("Expires 2 Jan 2031, 03:04 UTC").await;
    app.move_clock_past(soon_ms).await;
    b.open_api_keys().await;
    b.wait_for_text("Expired").await;
    assert_eq!(app.get_scoped_key(&org, cid(&short)).await["expired"], true);

    // Edit shows the expiry; emptying the field removes it.
    b.menu("Quarterly export", "Edit").await;
    b.wait_for_text("Edit API key").await;
    assert_eq!(b.value("#expires_at").await, "2031-01-02T03:04:05");
    set("").await.unwrap();
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Save changes").await;
    b.wait_for_text("API key updated").await;
    assert!(app.get_scoped_key(&org, &client_id).await["expires_at"].is_null());
    // Saving an expired key's form unchanged keeps its (past) expiry.
    b.menu("Short-lived", "Edit").await;
    b.wait_for_text("Edit API key").await;
    b.fill("#name", "Short-lived (old)").await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Save changes").await;
    b.wait_for_text("API key updated").await;
    let kept = app.get_scoped_key(&org, cid(&short)).await;
    assert_eq!(
        (kept["name"].clone(), kept["expired"].clone()),
        (json!("Short-lived (old)"), json!(true))
    );
    b.close().await;
}
