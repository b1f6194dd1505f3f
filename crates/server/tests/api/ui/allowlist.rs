//! The network allowlist of a scoped key in the Developer app: a textarea,
//! one network per line, each bad line named under it.

use reqwest::Method;
use serde_json::json;

use super::{browser, org_with_two_accounts};
use crate::helpers::{PASSWORD, spawn_app};

#[tokio::test]
async fn the_key_form_edits_the_allowlist_and_names_each_bad_line() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let Some(b) = browser(&app, "allowlist").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys/new",
        org.org_id
    ))
    .await;
    b.wait_for_text("Allowed networks").await;
    b.fill("#name", "Office only").await;
    b.click("#org-billing_invoices-read").await;
    b.fill(
        "#allowed_networks",
        "203.0.113.0/24\n300.1.2.3/8\n\n2001:db8::/32\n203.0.113.0/24",
    )
    .await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Create").await;
    b.wait_for_text("Line 2").await;
    let errors = b.css("#networks-error").await.text().await.unwrap();
    assert!(
        errors.contains("Line 2: \"300.1.2.3\" is not an IPv4 or IPv6 address"),
        "{errors}"
    );
    assert!(
        errors.contains("Line 5: 203.0.113.0/24 is already on line 1"),
        "{errors}"
    );
    assert!(!errors.contains("Line 4"), "{errors}");
    b.shot("key-form-allowlist-errors").await;
    let kept = b.value("#allowed_networks").await;
    assert!(kept.contains("300.1.2.3/8"), "what was typed stays: {kept}");
    let keys = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/api-keys", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(keys.body["scoped_keys"], json!([]), "nothing was created");

    b.fill(
        "#allowed_networks",
        "203.0.113.0/24\n2001:DB8::/32\n127.0.0.2",
    )
    .await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Create").await;
    let (client_id, _) = b.revealed(&app).await;
    let got = app.get_scoped_key(&org, &client_id).await;
    assert_eq!(
        got["allowed_networks"],
        json!(["203.0.113.0/24", "2001:db8::/32", "127.0.0.2/32"])
    );

    // The edit form shows the list, canonical, one per line.
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys/{client_id}/edit",
        org.org_id
    ))
    .await;
    b.wait_for_text("Edit API key").await;
    assert_eq!(
        b.value("#allowed_networks").await,
        "203.0.113.0/24\n2001:db8::/32\n127.0.0.2/32"
    );

    // A key policy set later: the keys that break it are listed with a warning.
    let anywhere = super::api_scoped_key(&app, &org, "Anywhere").await;
    let r = app
        .req(
            Method::PATCH,
            &format!("/dev/v1/orgs/{}/key-policy", org.org_id),
            Some(&org.owner),
            Some(json!({"require_allowed_networks": true, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys",
        org.org_id
    ))
    .await;
    b.wait_for_text("break").await;
    let warning = b.css("#policy-warning").await.text().await.unwrap();
    assert!(warning.contains("One key breaks"), "{warning}");
    assert!(
        warning.contains(anywhere["client_id"].as_str().unwrap()),
        "{warning}"
    );
    assert!(!warning.contains(&client_id), "{warning}");
    b.shot("api-keys-policy-warning").await;
    b.close().await;
}
