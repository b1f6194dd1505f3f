//! API keys in the browser, step by step as in the reference page: sign in,
//! generate and regenerate admin keys, create, duplicate, edit and delete
//! scoped keys; a wrong password, and a viewer kept out.

use reqwest::Method;
use serde_json::json;

use super::{api_scoped_key, browser, keys_of, org_with_two_accounts};
use crate::helpers::{PASSWORD, cid, perms, spawn_app};

#[tokio::test]
async fn signing_in_leads_to_settings_developer_api_keys() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let Some(b) = browser(&app, "sign_in").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    let text = b.text().await;
    for s in [
        "Admin API keys",
        "Scoped API keys",
        "New scoped API key",
        "Acme HK",
        "Acme UK",
        "Generate",
    ] {
        assert!(text.contains(s), "{s:?} missing:\n{text}");
    }
    assert!(b.path().await.ends_with("/settings/developer/api-keys"));
    b.shot("api-keys-empty").await;
    b.close().await;
}

#[tokio::test]
async fn generating_the_org_admin_key_shows_it_once_with_a_copy_button() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let Some(b) = browser(&app, "generate").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.click("a[aria-label='Generate the admin key of Acme']")
        .await;
    b.confirm(PASSWORD, "Generate").await;
    let (client_id, key) = b.revealed(&app).await;
    assert!(b.text().await.contains("Admin API key generated"));
    let copy = b.css("button[data-copy='api-key']").await;
    assert!(
        copy.is_displayed().await.unwrap(),
        "the Copy button is visible"
    );
    copy.click().await.unwrap();
    b.wait_for_text("Copied").await;
    b.shot("reveal-admin-key").await;

    // The key is never shown again: not on reload, not after going back.
    b.mark_page().await;
    let _ = b.c.refresh().await;
    b.wait_for_other_page().await;
    assert!(
        !b.c.source().await.unwrap().contains(&key),
        "reload showed the key again"
    );
    b.mark_page().await;
    b.c.back().await.unwrap();
    b.wait_for_other_page().await;
    assert!(
        !b.c.source().await.unwrap().contains(&key),
        "back showed the key again"
    );
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys",
        org.org_id
    ))
    .await;
    let text = b.text().await;
    assert!(text.contains(&client_id) && !b.c.source().await.unwrap().contains(&key));
    assert!(
        !text.contains("Generate the admin key of Acme"),
        "org row now has the … menu"
    );

    // The revealed key logs in.
    let r = app.login(&client_id, &key, None).await;
    assert_eq!(r.status, 201, "{}", r.body);
    b.close().await;
}

#[tokio::test]
async fn regenerating_an_admin_key_keeps_the_client_id_and_kills_the_old_secret() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let old = app.admin_key(&org, &org.org_id).await;
    let Some(b) = browser(&app, "regenerate").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.menu(cid(&old), "Regenerate").await;
    let focused =
        b.c.active_element()
            .await
            .unwrap()
            .attr("id")
            .await
            .unwrap();
    assert_eq!(
        focused.as_deref(),
        Some("confirm-password"),
        "the dialog takes the focus"
    );
    b.shot("regenerate-dialog").await;
    b.confirm(PASSWORD, "Regenerate").await;
    let (client_id, key) = b.revealed(&app).await;
    assert_eq!(client_id, cid(&old));
    assert_ne!(key, old["api_key"].as_str().unwrap());
    assert_eq!(
        app.login(&client_id, old["api_key"].as_str().unwrap(), None)
            .await
            .status,
        401
    );
    assert_eq!(app.login(&client_id, &key, None).await.status, 201);
    b.close().await;
}

#[tokio::test]
async fn a_scoped_key_with_org_and_account_permissions_for_two_accounts() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    app.admin_key(&org, &org.org_id).await;
    app.admin_key(&org, &org.accounts[0]).await;
    app.scoped_key(
        &org,
        json!({"name": "Checkout plugin", "org_permissions": [],
               "account_permissions": {"accounts": "all", "resources": perms(&[("payment_intents", "write"), ("payment_methods", "read")])}}),
    )
    .await;
    let Some(b) = browser(&app, "create_scoped").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.click_text("a", "New scoped API key").await;
    b.wait_for_text("Organization-level permissions").await;
    b.fill("#name", "Billing and payments sync").await;
    b.click("#org-billing_invoices-write").await;
    b.click("#org-accounts-read").await;
    assert!(
        b.css("#org-billing_invoices-read")
            .await
            .is_selected()
            .await
            .unwrap(),
        "Write checks Read"
    );
    b.click("#accounts-select > summary").await;
    for a in &org.accounts {
        b.click(&format!("input[name=account][value='{a}']")).await;
    }
    b.wait_for_text("Acme HK, Acme UK").await;
    b.click("#account-payment_intents-write").await;
    b.click("#account-balances-read").await;
    b.fill("#password", PASSWORD).await;
    b.shot_full("new-scoped-key", 1250).await;
    b.click_text("button", "Create").await;
    let (client_id, key) = b.revealed(&app).await;
    b.click("details.howto > summary").await;
    b.shot_full("reveal-scoped-key", 900).await;

    let got = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/scoped-keys/{client_id}", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(got.body["name"], "Billing and payments sync");
    assert_eq!(
        got.body["org_permissions"],
        perms(&[("accounts", "read"), ("billing_invoices", "write")])
    );
    let mut accounts = org.accounts.clone();
    accounts.sort();
    assert_eq!(got.body["account_permissions"]["accounts"], json!(accounts));
    assert_eq!(
        got.body["account_permissions"]["resources"],
        perms(&[("balances", "read"), ("payment_intents", "write")])
    );
    let r = app.login(&client_id, &key, Some(&org.accounts[1])).await;
    assert_eq!(r.status, 201, "{}", r.body);

    b.click_text("a", "Done").await;
    b.wait_for_text("Billing and payments sync").await;
    let text = b.text().await;
    assert!(
        text.contains("Billing invoices (Write)")
            && text.contains("Acme HK, Acme UK: Balances (Read), Payment intents (Write)"),
        "{text}"
    );
    b.shot_full("api-keys", 1400).await;
    b.close().await;
}

#[tokio::test]
async fn duplicating_a_scoped_key_gives_a_new_client_id_with_the_same_scope() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let original = api_scoped_key(&app, &org, "Reporting").await;
    let Some(b) = browser(&app, "duplicate").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.menu("Reporting", "Duplicate").await;
    b.confirm(PASSWORD, "Duplicate").await;
    let (client_id, key) = b.revealed(&app).await;
    assert_ne!(client_id, cid(&original));
    assert!(b.text().await.contains("Reporting (copy)"));
    let list = keys_of(&app, &org).await;
    let copy = list["scoped_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["client_id"] == client_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(copy["org_permissions"], original["org_permissions"]);
    assert_eq!(copy["account_permissions"], original["account_permissions"]);
    assert_eq!(app.login(&client_id, &key, None).await.status, 201);
    b.close().await;
}

#[tokio::test]
async fn editing_a_scoped_key_changes_its_scope_but_not_its_secret() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let key = api_scoped_key(&app, &org, "Reporting").await;
    let Some(b) = browser(&app, "edit").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.menu("Reporting", "Edit").await;
    b.wait_for_text("Edit API key").await;
    assert!(
        b.css("#org-billing_invoices-read")
            .await
            .is_selected()
            .await
            .unwrap(),
        "the form shows the current scope"
    );
    b.fill("#name", "Reporting v2").await;
    b.click("#org-billing_invoices-read").await; // unchecks Read: no org-level access
    b.click("#account-payment_intents-write").await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Save changes").await;
    b.wait_for_text("API key updated").await;
    assert!(b.text().await.contains("Reporting v2"));
    let got = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/scoped-keys/{}", org.org_id, cid(&key)),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(got.body["name"], "Reporting v2");
    assert_eq!(got.body["org_permissions"], json!([]));
    assert_eq!(
        got.body["account_permissions"]["resources"],
        perms(&[("balances", "read"), ("payment_intents", "write")])
    );
    assert_eq!(
        app.login(cid(&key), key["api_key"].as_str().unwrap(), None)
            .await
            .status,
        201,
        "same secret"
    );
    b.close().await;
}

#[tokio::test]
async fn deleting_a_scoped_key_removes_it_and_its_logins() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let key = api_scoped_key(&app, &org, "Old integration").await;
    let Some(b) = browser(&app, "delete").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.menu("Old integration", "Delete").await;
    b.confirm(PASSWORD, "Delete").await;
    b.wait_for_text("API key deleted").await;
    assert!(!b.text().await.contains("Old integration"));
    assert_eq!(
        app.login(cid(&key), key["api_key"].as_str().unwrap(), None)
            .await
            .status,
        401
    );
    b.close().await;
}

#[tokio::test]
async fn a_wrong_password_shows_an_error_and_changes_nothing() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let key = api_scoped_key(&app, &org, "Reporting").await;
    let before = keys_of(&app, &org).await;
    let Some(b) = browser(&app, "wrong_password").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.menu("Reporting", "Regenerate").await;
    b.confirm("not-my-password-at-all", "Regenerate").await;
    b.wait_for_text("That password is not correct. Nothing was changed.")
        .await;
    b.shot("wrong-password").await;
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys/new",
        org.org_id
    ))
    .await;
    b.fill("#name", "Should not exist").await;
    b.click("#org-billing_invoices-read").await;
    b.fill("#password", "wrong-password-again!!").await;
    b.click_text("button", "Create").await;
    b.wait_for_text("That password is not correct").await;
    assert_eq!(
        b.value("#name").await,
        "Should not exist",
        "the form keeps what was typed"
    );
    assert_eq!(keys_of(&app, &org).await, before);
    assert_eq!(
        app.login(cid(&key), key["api_key"].as_str().unwrap(), None)
            .await
            .status,
        201
    );
    b.close().await;
}

#[tokio::test]
async fn a_viewer_cannot_reach_the_api_keys_page() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let viewer = app.invite_member(&org, "viewer@acme.test", "viewer").await;
    let page = app
        .http
        .get(format!(
            "{}/app/orgs/{}/settings/developer/api-keys",
            app.base, org.org_id
        ))
        .header("cookie", format!("keygate_session={}", viewer.token))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("You need the Owner, Admin or Developer role")
    );

    let Some(b) = browser(&app, "viewer").await else {
        return;
    };
    b.sign_in("viewer@acme.test", PASSWORD).await;
    assert!(
        !b.text().await.contains("API keys"),
        "no API keys link for a viewer"
    );
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys",
        org.org_id
    ))
    .await;
    b.wait_for_text("You need the Owner, Admin or Developer role")
        .await;
    b.shot("viewer-denied").await;
    b.close().await;
}
