//! One frame for every signed-in page, in a real browser: the top bar, the
//! sidebar (the phone's menu) and the main landmark on the organization's
//! pages, on the user's own (Security, two-factor: enrol, recovery codes,
//! turn off) and for someone who belongs to no organization; and every page,
//! signed in or not, fits a 390 px phone (nothing scrolls sideways) and a
//! 1280 px desktop (no table wider than its card), with no serious or
//! critical axe-core violation.

use reqwest::Method;
use serde_json::json;

use super::screens::{axe, axe_source, fits, js, screenshot, set_width};
use super::{Browser, api_scoped_key, browser, org_with_two_accounts};
use crate::helpers::{Org, PASSWORD, TestApp, spawn_app};

/// The frame's landmarks on the page, and its width against the window's.
const FRAME: &str = r#"
const d = document.documentElement;
return {
  topbar: document.querySelector('header.topbar') !== null,
  sidebar: document.querySelector('nav.sidebar[aria-label]') !== null,
  toggle: document.getElementById('nav-toggle') !== null,
  main: document.querySelector('main#main') !== null,
  fits: d.scrollWidth <= d.clientWidth,
  width: [d.scrollWidth, d.clientWidth],
};
"#;

/// Checks the page open in `b`: the app's frame (when `framed`), that it
/// fits `width`, and axe.
async fn check(b: &Browser, axe_js: Option<&str>, name: &str, width: u32, framed: bool) {
    b.css("h1").await;
    let frame = js(b, FRAME).await;
    assert_eq!(
        frame["fits"], true,
        "{name} scrolls sideways at {width} px: {frame}"
    );
    if framed {
        for landmark in ["topbar", "sidebar", "toggle", "main"] {
            assert_eq!(
                frame[landmark], true,
                "{name} at {width} px lacks the app's {landmark}: {frame}"
            );
        }
    }
    fits(b, name, width).await;
    axe(b, axe_js, &format!("{name} at {width} px")).await;
}

/// Removes `email` from `org` (it keeps its Keygate account).
async fn remove_member(app: &TestApp, org: &Org, email: &str) {
    let members = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/members", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    let user_id = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .req(
            Method::DELETE,
            &format!("/dev/v1/orgs/{}/members/{user_id}", org.org_id),
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
}

/// Turns two-factor on in the browser (Security → Two-factor authentication),
/// checking the enrol and recovery codes pages on the way; the secret.
pub(super) async fn enrol_in_browser(b: &Browser, axe_js: Option<&str>, width: u32) -> String {
    b.go("/app/security/two-factor").await;
    b.wait_for_text("Two-factor authentication is off").await;
    b.fill("#password", PASSWORD).await;
    b.click("#start-enrol").await;
    b.wait_for_text("Scan this QR code").await;
    check(b, axe_js, "two-factor enrol", width, true).await;
    screenshot(b, &format!("two-factor-enrol-{width}")).await;
    let secret = b
        .css("#secret")
        .await
        .text()
        .await
        .unwrap()
        .replace(' ', "");
    b.fill("#code", &crate::two_factor::code(&secret, 0)).await;
    b.click("#confirm-code").await;
    b.wait_for_text("Save these recovery codes").await;
    check(b, axe_js, "recovery codes", width, true).await;
    screenshot(b, &format!("recovery-codes-{width}")).await;
    secret
}

#[tokio::test]
async fn every_signed_in_page_has_the_app_frame_and_fits_a_phone() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let key = api_scoped_key(&app, &org, "Nightly reconciliation of invoices").await;
    let cid = key["client_id"].as_str().unwrap().to_owned();
    let admin = app.admin_key(&org, &org.org_id).await;
    let admin_cid = admin["client_id"].as_str().unwrap().to_owned();
    // Someone who joined and was removed again: in no organization now.
    app.invite_member(&org, "former@acme.test", "developer")
        .await;
    remove_member(&app, &org, "former@acme.test").await;
    let Some(b) = browser(&app, "frames").await else {
        return;
    };
    let axe_js = axe_source();
    b.sign_in(&org.owner.email, PASSWORD).await;
    let base = format!("/app/orgs/{}/settings", org.org_id);
    let keys = format!("{base}/developer/api-keys");
    let pages = [
        ("settings", base.clone()),
        ("org two-factor", format!("{base}/two-factor")),
        ("api-keys", keys.clone()),
        ("key", format!("{keys}/{cid}")),
        ("key form", format!("{keys}/new")),
        ("key edit", format!("{keys}/{cid}/edit")),
        ("duplicate", format!("{keys}/{cid}/duplicate")),
        ("delete", format!("{keys}/{cid}/delete")),
        ("regenerate", format!("{keys}/{cid}/regenerate")),
        ("admin regenerate", format!("{keys}/{admin_cid}/regenerate")),
        ("admin rate limit", format!("{keys}/{admin_cid}/rate-limit")),
        (
            "admin generate",
            format!("{keys}/generate?owner_id={}", org.accounts[0]),
        ),
        ("audit-log", format!("{base}/developer/audit-log")),
        ("usage", format!("{base}/developer/usage")),
        ("members", format!("{base}/members")),
        ("accounts", format!("{base}/accounts")),
        ("security", "/app/security".to_owned()),
        ("two-factor", "/app/security/two-factor".to_owned()),
    ];
    for width in [390, 1280] {
        set_width(&b, width).await;
        for (name, path) in &pages {
            b.go(path).await;
            check(&b, axe_js.as_deref(), name, width, true).await;
        }
    }
    // The user's own pages show the same sidebar as the organization's, with
    // Security in it, current.
    b.go("/app/security").await;
    let current = js(
        &b,
        "return document.querySelector('nav.sidebar a[aria-current=page]').textContent.trim();",
    )
    .await;
    assert_eq!(current, "Security");
    assert!(b.text().await.contains("API keys"), "the org's navigation");
    set_width(&b, 390).await;
    // On a phone the menu opens the sidebar there too.
    b.click("#nav-toggle").await;
    let open = js(
        &b,
        "return document.querySelector('nav.sidebar').offsetParent !== null;",
    )
    .await;
    assert_eq!(open, true);
    // Turning two-factor on: enrol and recovery codes in the frame, then
    // the page to turn it off.
    enrol_in_browser(&b, axe_js.as_deref(), 390).await;
    b.go("/app/security/two-factor").await;
    b.wait_for_text("Two-factor authentication is on").await;
    check(&b, axe_js.as_deref(), "two-factor off form", 390, true).await;
    set_width(&b, 1280).await;
    b.click_text("button", "Sign out").await;
    b.wait_for_text("Sign in").await;

    // Someone in no organization: the same frame, without an organization's
    // navigation.
    b.sign_in("former@acme.test", PASSWORD).await;
    check(&b, axe_js.as_deref(), "no organization", 390, true).await;
    b.wait_for_text("not a member of any organization").await;
    for (name, path) in [
        ("security, no organization", "/app/security"),
        ("two-factor, no organization", "/app/security/two-factor"),
    ] {
        for width in [390, 1280] {
            set_width(&b, width).await;
            b.go(path).await;
            check(&b, axe_js.as_deref(), name, width, true).await;
        }
        let text = b.text().await;
        assert!(
            !text.contains("API keys") && !text.contains("Acme"),
            "{name}: {text}"
        );
    }
    b.close().await;
}

#[tokio::test]
async fn every_signed_out_page_fits_a_phone() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/invitations", org.org_id),
            Some(&org.owner),
            Some(json!({"email": "new@acme.test", "role": "developer", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let path_of = |link: String| {
        link.split_once("/app/")
            .map(|(_, p)| format!("/app/{p}"))
            .unwrap()
    };
    let invitation = path_of(app.mailed_link("new@acme.test", "/app/invitations/").await);
    let (secret, _) = crate::two_factor::enrol(&app, &org.owner).await;
    let Some(b) = browser(&app, "frames-out").await else {
        return;
    };
    let axe_js = axe_source();
    b.go("/app/password-reset").await;
    b.fill("#email", &org.owner.email).await;
    b.click_text("button", "Send reset link").await;
    b.wait_for_text("on its way").await;
    let reset = path_of(
        app.mailed_link(&org.owner.email, "/app/password-reset/")
            .await,
    );
    for width in [390, 1280] {
        set_width(&b, width).await;
        for (name, path) in [
            ("sign-in", "/app/sign-in"),
            ("password reset", "/app/password-reset"),
            ("new password", reset.as_str()),
            ("invitation", invitation.as_str()),
        ] {
            b.go(path).await;
            check(&b, axe_js.as_deref(), name, width, false).await;
        }
        // The two-factor step of signing in.
        b.go("/app/sign-in").await;
        b.fill("#email", &org.owner.email).await;
        b.fill("#password", PASSWORD).await;
        b.click("form button[type=submit]").await;
        b.wait_for_text("Enter the 6-digit code").await;
        check(&b, axe_js.as_deref(), "two-factor step", width, false).await;
    }
    app.remember(&secret);
    b.close().await;
}
