//! Workload identity federation rules of a scoped key in the Developer app:
//! a textarea, one rule per line (issuer, audience, subject), a bad line
//! named under it, and the rules listed on the key's page.

use serde_json::json;

use super::{browser, org_with_two_accounts};
use crate::helpers::{PASSWORD, spawn_app};

#[tokio::test]
async fn the_key_form_edits_the_federation_rules_and_the_key_page_lists_them() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let Some(b) = browser(&app, "federation").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys/new",
        org.org_id
    ))
    .await;
    b.wait_for_text("Workload identity federation").await;
    b.fill("#name", "CI deploys").await;
    b.click("#org-billing_invoices-read").await;
    // An http:// issuer is refused without --allow-insecure-issuers.
    b.fill(
        "#federation",
        "http://ci.example.test https://keygate.test repo:acme/app:*",
    )
    .await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Create").await;
    b.wait_for_text("Line 1").await;
    let error = b.css("#federation-error").await.text().await.unwrap();
    assert!(error.contains("Line 1: the issuer"), "{error}");
    assert!(error.contains("https://"), "{error}");

    let github = "https://token.actions.githubusercontent.com";
    b.fill(
        "#federation",
        &format!("{github} https://keygate.test repo:acme/app:ref:refs/heads/*"),
    )
    .await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Create").await;
    let (client_id, _) = b.revealed(&app).await;
    let got = app.get_scoped_key(&org, &client_id).await;
    assert_eq!(
        got["federation"],
        json!([{"issuer": github, "audience": "https://keygate.test",
                "subject": "repo:acme/app:ref:refs/heads/*"}])
    );

    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys/{client_id}",
        org.org_id
    ))
    .await;
    b.wait_for_text("Tokens of https://token.actions").await;
    let listed = b.css("#key-federation").await.text().await.unwrap();
    assert!(
        listed.contains(github) && listed.contains("repo:acme/app:ref:refs/heads/*"),
        "{listed}"
    );

    // The edit form shows the rule; emptying the box removes it.
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys/{client_id}/edit",
        org.org_id
    ))
    .await;
    b.wait_for_text("Edit API key").await;
    assert!(b.value("#federation").await.starts_with(github));
    b.fill("#federation", "").await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Save changes").await;
    b.wait_for_text("API key updated").await;
    assert_eq!(
        app.get_scoped_key(&org, &client_id).await["federation"],
        json!([])
    );
    b.close().await;
}
