//! Passkeys in the Developer app, in headless Chromium with its virtual
//! authenticator (the W3C WebAuthn WebDriver extension, through fantoccini's
//! raw commands): add one on Security, sign out, "Sign in with a passkey",
//! remove it, and see it no longer sign in. The page is served from
//! `http://localhost:<port>`, the server's `--public-url`: a WebAuthn RP ID
//! must be a host name, not 127.0.0.1.

use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};

use super::browser;
use crate::helpers::{PASSWORD, spawn_app_with};
use crate::two_factor::mail_to;

/// A command of the WebAuthn WebDriver extension:
/// `{method} /session/{id}/webauthn/{path}`.
#[derive(Debug)]
struct WebAuthn {
    method: http::Method,
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for WebAuthn {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let id = session_id.unwrap_or_default();
        base_url.join(&format!("session/{id}/webauthn/{}", self.path))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(Value::to_string),
        )
    }
}

async fn webauthn(
    c: &fantoccini::Client,
    method: http::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let cmd = WebAuthn {
        method,
        path: path.to_owned(),
        body,
    };
    c.issue_cmd(cmd)
        .await
        .unwrap_or_else(|e| panic!("webauthn/{path}: {e}"))
}

#[tokio::test]
async fn a_passkey_added_on_security_signs_in_from_the_sign_in_page_until_removed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let public = format!("http://localhost:{port}");
    let app = spawn_app_with(&["--listen", &listen, "--public-url", &public], &[]).await;
    app.create_org("Acme", "owner@acme.test", &[]).await;
    let Some(mut b) = browser(&app, "passkeys").await else {
        return;
    };
    b.base = public.clone();
    let id = webauthn(
        &b.c,
        http::Method::POST,
        "authenticator",
        Some(
            json!({"protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
                    "hasUserVerification": true, "isUserVerified": true}),
        ),
    )
    .await;
    let id = id.as_str().expect("an authenticator id").to_owned();
    let creds = format!("authenticator/{id}/credentials");

    // Security: name, password, "Add a passkey".
    b.sign_in("owner@acme.test", PASSWORD).await;
    b.go("/app/security").await;
    b.wait_for_text("You have no passkeys yet").await;
    b.fill("#passkey-name", "This laptop").await;
    b.fill("#passkey-password", PASSWORD).await;
    b.click("#passkey-add").await;
    b.wait_for_text("Passkey added").await;
    b.wait_for_text("This laptop").await;
    b.shot("passkeys-security").await;
    let held = webauthn(&b.c, http::Method::GET, &creds, None).await;
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["isResidentCredential"], true);
    assert_eq!(held[0]["rpId"], "localhost");
    assert!(
        mail_to(
            &app,
            "owner@acme.test",
            "A passkey was added to your account"
        )
        .await
    );

    // Signed out, "Sign in with a passkey": no email, no password.
    b.click_text("button", "Sign out").await;
    b.wait_for_text("Sign in with a passkey").await;
    b.click("#passkey-sign-in").await;
    b.wait_for_text("owner@acme.test").await;
    assert!(
        b.path().await.starts_with("/app/orgs/"),
        "{}",
        b.path().await
    );
    let blocked: Vec<String> = b
        .console()
        .await
        .into_iter()
        .filter(|m| m.contains("Content Security Policy"))
        .collect();
    assert!(blocked.is_empty(), "{blocked:?}");

    // Remove it on Security with the password.
    b.go("/app/security").await;
    b.wait_for_text("This laptop").await;
    b.fill("#passkey-list input[name=password]", PASSWORD).await;
    b.click("#passkey-list button[type=submit]").await;
    b.wait_for_text("Passkey removed").await;
    b.wait_for_text("You have no passkeys yet").await;

    // The authenticator still holds it; it no longer signs in.
    b.click_text("button", "Sign out").await;
    b.wait_for_text("Sign in with a passkey").await;
    b.click("#passkey-sign-in").await;
    b.wait_for_text("That passkey did not sign you in").await;
    assert_eq!(b.path().await, "/app/sign-in/passkey");
    b.close().await;
}
