//! Every form of more than one field reports every error at once, in a real
//! browser at 390 px: a summary first on the page, focused, with a link to
//! each failing field, each field marked invalid with its message beside it,
//! and what was typed kept. One mechanism (`ui::form_errors`) for all of
//! them; the scoped key form's own test is in `screens.rs`.

use std::time::Duration;

use serde_json::Value;

use super::frames::enrol_in_browser;
use super::screens::{axe, axe_source, fits, js, set_width};
use super::{Browser, browser, org_with_two_accounts};
use crate::helpers::{PASSWORD, poll, spawn_app};

/// Submits the form `form` (CSS) as it is filled, with its own button.
async fn submit(b: &Browser, form: &str) {
    b.css(form).await;
    let sent = js(
        b,
        &format!(
            "const f = document.querySelector({form:?}); f.querySelector('button[type=submit]').click(); return true;"
        ),
    )
    .await;
    assert_eq!(sent, true);
}

/// The summary's links after a failed post, and the state of their fields.
const SUMMARY: &str = r#"
const s = document.getElementById('error-summary');
if (!s) return null;
return {
  focused: document.activeElement === s,
  links: [...s.querySelectorAll('a')].map(a => {
    const id = a.getAttribute('href').slice(1);
    const f = document.getElementById(id);
    return {id, text: a.textContent.trim(), exists: f !== null,
            invalid: f !== null && f.getAttribute('aria-invalid') === 'true'};
  }),
};
"#;

/// Waits for the page with the summary, then checks that it links to each
/// of `fields` (marked invalid), and nothing else breaks the page.
async fn summary_links(b: &Browser, axe_js: Option<&str>, what: &str, fields: &[&str]) -> Value {
    let summary = poll(Duration::from_secs(15), async || {
        let s = js(b, SUMMARY).await;
        if s.is_null() { Err(()) } else { Ok(s) }
    })
    .await;
    let Ok(summary) = summary else {
        panic!(
            "{what}: no error summary; the page shows:\n{}",
            b.text().await
        );
    };
    assert_eq!(summary["focused"], true, "{what}: {summary}");
    let links = summary["links"].as_array().unwrap();
    for field in fields {
        let link = links
            .iter()
            .find(|l| l["id"] == *field)
            .unwrap_or_else(|| panic!("{what}: no link to #{field} in {summary}"));
        assert_eq!(link["exists"], true, "{what}: #{field} is not on the page");
        assert_eq!(
            link["invalid"], true,
            "{what}: #{field} is not marked invalid"
        );
    }
    fits(b, what, 390).await;
    axe(b, axe_js, what).await;
    summary
}

#[tokio::test]
async fn every_form_reports_all_its_errors_at_once() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let admin = app.admin_key(&org, &org.org_id).await;
    let admin_cid = admin["client_id"].as_str().unwrap().to_owned();
    let Some(b) = browser(&app, "forms").await else {
        return;
    };
    let axe_js = axe_source();
    let axe_js = axe_js.as_deref();
    set_width(&b, 390).await;

    // Signing in with nothing typed.
    b.go("/app/sign-in").await;
    submit(&b, "form[action='/app/sign-in']").await;
    summary_links(&b, axe_js, "sign-in", &["email", "password"]).await;

    set_width(&b, 1280).await;
    b.sign_in(&org.owner.email, PASSWORD).await;
    set_width(&b, 390).await;
    let base = format!("/app/orgs/{}/settings", org.org_id);
    let keys = format!("{base}/developer/api-keys");

    // Each form left empty or filled wrong in every field it has.
    b.go(&format!("{base}/accounts")).await;
    submit(&b, "form[action$='/accounts']").await;
    summary_links(&b, axe_js, "create account", &["name", "password"]).await;

    b.go(&format!("{base}/members")).await;
    submit(&b, "form[action$='/invitations']").await;
    summary_links(&b, axe_js, "invite", &["email", "password"]).await;

    b.go("/app/security").await;
    b.fill("#new_password", "short").await;
    b.fill("#confirm_password", "different").await;
    submit(&b, "form[action='/app/security/password']").await;
    let s = summary_links(
        &b,
        axe_js,
        "change password",
        &["password", "new_password", "confirm_password"],
    )
    .await;
    assert!(s.to_string().contains("15 characters"), "{s}");

    b.go(&base).await;
    b.fill("#rate_limit_requests", "0").await;
    b.fill("#rate_limit_per_seconds", "100000").await;
    submit(&b, "form[action$='/rate-limit']").await;
    summary_links(
        &b,
        axe_js,
        "default rate limit",
        &["rate_limit_requests", "rate_limit_per_seconds", "password"],
    )
    .await;
    assert_eq!(b.value("#rate_limit_per_seconds").await, "100000");

    b.go(&format!("{keys}/{admin_cid}/rate-limit")).await;
    b.fill("#rate_limit_requests", "0").await;
    b.fill("#rate_limit_per_seconds", "100000").await;
    submit(&b, "main form").await;
    summary_links(
        &b,
        axe_js,
        "admin key rate limit",
        &["rate_limit_requests", "rate_limit_per_seconds", "password"],
    )
    .await;

    b.go(&format!("{keys}/generate?owner_id={}", org.accounts[0]))
        .await;
    b.fill("#allowed_networks", "10.0.0.0/33\nnot-a-network")
        .await;
    b.fill("#rate_limit_requests", "0").await;
    b.fill("#rate_limit_per_seconds", "60").await;
    submit(&b, "main form").await;
    summary_links(
        &b,
        axe_js,
        "generate admin key",
        &["allowed_networks", "rate_limit_requests", "password"],
    )
    .await;
    assert_eq!(
        b.value("#allowed_networks").await,
        "10.0.0.0/33\nnot-a-network"
    );
    // Nothing was generated.
    let all = super::keys_of(&app, &org).await;
    assert_eq!(all["admin_keys"].as_array().map(Vec::len), Some(1), "{all}");

    // Turning two-factor off, with neither the password nor a code.
    enrol_in_browser(&b, axe_js, 390).await;
    b.go("/app/security/two-factor").await;
    submit(&b, "form[action$='/two-factor/disable']").await;
    summary_links(&b, axe_js, "turn off two-factor", &["password", "code"]).await;
    let on = js(
        &b,
        "return document.getElementById('two-factor-status').textContent;",
    )
    .await;
    assert!(on.to_string().contains("on"), "{on}");

    // A new password chosen after a reset: too short, and not the same.
    set_width(&b, 1280).await;
    b.click_text("button", "Sign out").await;
    set_width(&b, 390).await;
    b.go("/app/password-reset").await;
    b.fill("#email", &org.owner.email).await;
    b.click_text("button", "Send reset link").await;
    b.wait_for_text("on its way").await;
    let link = app
        .mailed_link(&org.owner.email, "/app/password-reset/")
        .await;
    let path = link
        .split_once("/app/")
        .map(|(_, p)| format!("/app/{p}"))
        .unwrap();
    b.go(&path).await;
    b.fill("#new_password", "short").await;
    b.fill("#confirm_password", "not the same").await;
    submit(&b, "main form").await;
    summary_links(
        &b,
        axe_js,
        "new password",
        &["new_password", "confirm_password"],
    )
    .await;
    b.close().await;
}
