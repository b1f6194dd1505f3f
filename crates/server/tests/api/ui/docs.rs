//! The API reference at `/docs`: Swagger UI, bundled into the binary, renders
//! the live `/openapi.json` in a real browser under the page's own CSP, and
//! the app's footer links to it.

use std::time::Duration;

use fantoccini::Locator;
use reqwest::Method;

use super::{browser, org_with_two_accounts};
use crate::helpers::{PASSWORD, spawn_app};

#[tokio::test]
async fn the_api_reference_renders_the_live_document_without_csp_errors() {
    let app = spawn_app().await;
    // Plain HTTP first: /docs sends browsers to /docs/, whose page loads only
    // its own files, under a CSP that allows nothing from elsewhere.
    let r = app
        .send(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .get(format!("{}/docs", app.base)),
        )
        .await;
    assert!(r.status.is_redirection(), "{}", r.status);
    assert_eq!(r.headers["location"], "/docs/");
    let page = app
        .http
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(!csp.contains("http"), "no other origin is allowed: {csp}");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    let init = app
        .req(Method::GET, "/docs/swagger-initializer.js", None, None)
        .await;
    assert_eq!(init.status, 200);
    let init = init.body.as_str().unwrap_or_default().to_owned();
    assert!(init.contains("/openapi.json"), "{init}");

    let org = org_with_two_accounts(&app).await;
    let Some(b) = browser(&app, "docs").await else {
        return;
    };
    // Reached from the app's footer.
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.console().await; // the app's own messages: not this test's
    b.click_text("a", "API reference").await;
    b.c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(".opblock-summary-path"))
        .await
        .expect("Swagger UI lists operations");
    assert_eq!(b.path().await, "/docs/");
    let text = b.text().await;
    for want in [
        "/api/v1/authentication/login",
        "/dev/v1/orgs/{org_id}/scoped-keys",
        "/auth/verify",
        "/readyz",
    ] {
        assert!(text.contains(want), "{want} in:\n{text}");
    }
    let ops = b.c.find_all(Locator::Css(".opblock")).await.unwrap().len();
    assert!(ops >= 40, "{ops} operations shown");
    // Open one operation: its parameters render from the document.
    b.click("[id^='operations-authentication-'][id$='login'] button.opblock-summary-control")
        .await;
    b.wait_for_text("x-client-id").await;
    b.shot("docs").await;
    let console = b.console().await;
    let bad: Vec<&String> = console
        .iter()
        .filter(|m| {
            m.contains("Content Security Policy") || m.contains("SEVERE") || m.contains("Refused")
        })
        .collect();
    assert!(bad.is_empty(), "console: {console:#?}");
}
