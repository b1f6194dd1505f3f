//! A key reported leaked, while the organization notifies instead of
//! revoking, is marked "Exposed" in the app's list until it is regenerated.

use fantoccini::Locator;
use reqwest::Method;
use serde_json::json;

use super::{api_scoped_key, browser, org_with_two_accounts};
use crate::helpers::{PASSWORD, secret, spawn_app_with};

const GITLAB_TOKEN: &str = "gl-revocation-0123456789abcdef";

#[tokio::test]
async fn a_key_reported_leaked_is_marked_exposed_in_the_list() {
    let app = spawn_app_with(&["--gitlab-revocation-token", GITLAB_TOKEN], &[]).await;
    let org = org_with_two_accounts(&app).await;
    let leaky = api_scoped_key(&app, &org, "Leaky integration").await;
    api_scoped_key(&app, &org, "Clean integration").await;
    let out = app.cli(
        &["org", "set", "--org", &org.org_id, "--on-leak", "notify"],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = app
        .send(
            app.http
                .request(
                    Method::POST,
                    format!("{}/secret-scanning/gitlab/v1/revoke_tokens", app.base),
                )
                .bearer_auth(GITLAB_TOKEN)
                .json(&json!([{"type": "keygate_api_key", "token": secret(&leaky),
                               "location": "https://gitlab.example/a/-/blob/main/.env"}])),
        )
        .await;
    assert_eq!(r.status, 204);
    let Some(b) = browser(&app, "exposed").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    let row = |name: &str| format!("//tr[contains(normalize-space(.), {name:?})]");
    let leaky_row =
        b.c.find(Locator::XPath(&row("Leaky integration")))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    assert!(leaky_row.contains("Exposed"), "{leaky_row}");
    let clean_row =
        b.c.find(Locator::XPath(&row("Clean integration")))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    assert!(!clean_row.contains("Exposed"), "{clean_row}");
    b.shot("exposed").await;
    b.close().await;
}
