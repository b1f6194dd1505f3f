//! Two-factor sign-in in the Developer app: enrol in a real browser, sign out,
//! sign in with a code; and the page a member sees when the organization
//! requires two-factor and they have it off.

use reqwest::Method;
use serde_json::json;

use super::{browser, org_with_two_accounts};
use crate::helpers::{PASSWORD, spawn_app};
use crate::two_factor::{code, enrol};

#[tokio::test]
async fn enrolling_two_factor_then_signing_in_asks_for_a_code() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let Some(b) = browser(&app, "two_factor").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.go("/app/security/two-factor").await;
    b.wait_for_text("Two-factor authentication is off").await;
    b.fill("#password", PASSWORD).await;
    b.click("#start-enrol").await;
    b.wait_for_text("Scan this QR code").await;
    let qr = b.css("#qr").await.attr("src").await.unwrap().unwrap();
    assert!(qr.starts_with("data:image/svg+xml;base64,"), "{qr}");
    // Shown in groups of four, easier to type.
    let grouped = b.css("#secret").await.text().await.unwrap();
    assert!(grouped.contains(' '), "{grouped}");
    let secret = grouped.replace(' ', "");
    app.remember(&secret);
    let uri = b
        .css("#otpauth-uri")
        .await
        .prop("textContent")
        .await
        .unwrap()
        .unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Keygate:owner@acme.test?secret="),
        "{uri}"
    );
    b.shot("two-factor-enrol").await;
    // A wrong first code keeps the secret the app already holds, and says so
    // in a sentence.
    b.fill("#code", &crate::two_factor::wrong_code(&secret))
        .await;
    b.click("#confirm-code").await;
    b.wait_for_text("That code is not right").await;
    let again = b.css("#secret").await.text().await.unwrap();
    assert_eq!(
        again.replace(' ', ""),
        secret,
        "the secret changed after a wrong code"
    );
    b.fill("#code", &code(&secret, 0)).await;
    b.click("#confirm-code").await;
    b.wait_for_text("Save these recovery codes").await;
    let codes = b.css("#recovery-codes").await.text().await.unwrap();
    // They can be copied and downloaded as a text file.
    b.css("button.copy[data-copy='recovery-text']").await;
    let download = b.css("#download-codes").await;
    assert_eq!(
        download.attr("download").await.unwrap().as_deref(),
        Some("keygate-recovery-codes.txt")
    );
    let href = download.attr("href").await.unwrap().unwrap();
    let first = codes.lines().next().unwrap().trim();
    assert!(
        href.starts_with("data:text/plain") && href.contains(first),
        "{href}"
    );
    assert_eq!(codes.lines().count(), 10, "{codes}");
    codes.lines().for_each(|c| app.remember(c.trim()));

    b.go("/app").await;
    b.click_text("button", "Sign out").await;
    b.wait_for_text("Sign in").await;
    b.fill("#email", &org.owner.email).await;
    b.fill("#password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    b.wait_for_text("Enter the 6-digit code").await;
    b.fill("#code", "000000x").await;
    b.click("form button[type=submit]").await;
    b.wait_for_text("That code is not correct").await;
    b.fill("#code", &code(&secret, 1)).await;
    b.click("form button[type=submit]").await;
    b.wait_for_text("Sign out").await;
    assert!(b.path().await.ends_with("/settings/developer/api-keys"));

    // The owner requires it of every member, from Settings.
    b.go(&format!("/app/orgs/{}/settings", org.org_id)).await;
    b.click_text("a", "Two-factor authentication").await;
    b.wait_for_text("Members may sign in with a password alone")
        .await;
    b.fill("#password", PASSWORD).await;
    b.click("#toggle-policy").await;
    b.wait_for_text("Every member must sign in with two-factor")
        .await;
    // Turning two-factor on in the browser ended the owner's other sessions:
    // the API session from before is gone; a new one takes a code.
    let at = format!("/dev/v1/orgs/{}", org.org_id);
    let old = app.req(Method::GET, &at, Some(&org.owner), None).await;
    assert_eq!(old.status, 401, "{}", old.body);
    let recovery = codes.lines().next().unwrap().trim().to_owned();
    let owner = crate::two_factor::sign_in_with_code(&app, &org.owner.email, &recovery).await;
    let r = app.req(Method::GET, &at, Some(&owner), None).await;
    assert_eq!(r.body["require_two_factor"], true, "{}", r.body);
    b.close().await;
}

#[tokio::test]
async fn a_member_without_two_factor_is_sent_to_enrol_when_the_org_requires_it() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    enrol(&app, &org.owner).await;
    let r = app
        .req(
            Method::PATCH,
            &format!("/dev/v1/orgs/{}", org.org_id),
            Some(&org.owner),
            Some(json!({"require_two_factor": true, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let dev = app.invite_member(&org, "dev@acme.test", "developer").await;
    let page = app
        .http
        .get(format!("{}/app/orgs/{}/settings", app.base, org.org_id))
        .header("cookie", format!("keygate_session={}", dev.token))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("requires every member to sign in with two-factor"),
        "{html}"
    );
    assert!(html.contains("href=\"/app/security/two-factor\""));
    let enrol_page = app
        .http
        .get(format!("{}/app/security/two-factor", app.base))
        .header("cookie", format!("keygate_session={}", dev.token))
        .send()
        .await
        .unwrap();
    assert_eq!(enrol_page.status(), 200);

    // The members page shows who has it on.
    let members = app
        .http
        .get(format!(
            "{}/app/orgs/{}/settings/members",
            app.base, org.org_id
        ))
        .header("cookie", format!("keygate_session={}", org.owner.token))
        .send()
        .await
        .unwrap();
    assert_eq!(members.status(), 200);
    let html = members.text().await.unwrap();
    let row = |email: &str| {
        let start = html.find(&format!("cell-title\">{email}")).unwrap();
        html[start..].split("</tr>").next().unwrap().to_owned()
    };
    assert!(html.contains("Two-factor</th>"));
    assert!(
        row("owner@acme.test").contains(">On<"),
        "{}",
        row("owner@acme.test")
    );
    assert!(
        row("dev@acme.test").contains(">Off<"),
        "{}",
        row("dev@acme.test")
    );
}
