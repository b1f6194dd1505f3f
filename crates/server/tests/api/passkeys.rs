//! Passkeys over `/dev/v1`, with a software authenticator written here
//! (`passkeys/authenticator.rs`): add, list, sign in without a username,
//! remove; a challenge used once and expiring on the server's clock; a
//! signature counter that goes backwards; another origin or RP ID; another
//! person's passkey; and a passkey session meeting `require_two_factor`.
//! The browser's side (the app's pages and Chromium's virtual authenticator)
//! is in `ui/passkeys.rs`.

mod authenticator;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::two_factor::{enrol, mail_to};
pub use authenticator::Authenticator;

const RP_ID: &str = "keygate.test";
const ORIGIN: &str = "https://keygate.test";

async fn app() -> TestApp {
    spawn_app_with(&["--public-url", ORIGIN], &[]).await
}

/// Registration options for `s`, checked for what a passkey needs.
async fn creation_options(app: &TestApp, s: &Session) -> Value {
    let r = app
        .req(
            Method::POST,
            "/dev/v1/me/passkeys/options",
            Some(s),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// Adds a passkey made by `auth` to `s`; the 201 body.
pub async fn add_passkey(
    app: &TestApp,
    s: &Session,
    auth: &mut Authenticator,
    name: &str,
) -> Value {
    let opt = creation_options(app, s).await;
    let credential = auth.create(&opt["publicKey"]);
    let r = app
        .req(
            Method::POST,
            "/dev/v1/me/passkeys",
            Some(s),
            Some(json!({"challenge_id": opt["challenge_id"], "name": name, "credential": credential})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

async fn request_options(app: &TestApp) -> Value {
    let r = app
        .req(
            Method::POST,
            "/dev/v1/sessions/passkey/options",
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

async fn finish_sign_in(app: &TestApp, challenge_id: &Value, credential: Value) -> Resp {
    app.req(
        Method::POST,
        "/dev/v1/sessions/passkey",
        None,
        Some(json!({"challenge_id": challenge_id, "credential": credential})),
    )
    .await
}

/// Fresh options, `auth`'s assertion, the sign-in's answer.
pub async fn sign_in_with(app: &TestApp, auth: &mut Authenticator) -> Resp {
    let opt = request_options(app).await;
    let credential = auth.get(&opt["publicKey"]);
    finish_sign_in(app, &opt["challenge_id"], credential).await
}

fn session_of(r: &Resp, email: &str) -> Session {
    Session {
        token: r.body["session_token"].as_str().unwrap().to_owned(),
        email: email.to_owned(),
    }
}

async fn list(app: &TestApp, s: &Session) -> Vec<Value> {
    let r = app
        .req(Method::GET, "/dev/v1/me/passkeys", Some(s), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["passkeys"].as_array().unwrap().clone()
}

/// What a wrong password answers at sign-in: every refused passkey gets it.
async fn bad_credentials(app: &TestApp) -> Value {
    let r = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "owner@acme.test", "password": "not-the-password-1"})),
        )
        .await;
    assert_eq!(r.status, 401);
    r.body
}

#[tokio::test]
async fn a_passkey_is_added_listed_signs_in_without_a_username_and_is_mailed_and_audited() {
    let app = app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let s = &org.owner;

    let r = app
        .req(
            Method::POST,
            "/dev/v1/me/passkeys/options",
            Some(s),
            Some(json!({"password": "not-the-password-1"})),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "password_confirmation_failed");

    let opt = creation_options(&app, s).await;
    let pk = &opt["publicKey"];
    assert_eq!(pk["rp"]["id"], RP_ID, "{pk}");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    assert!(pk["user"]["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(pk["challenge"].as_str().is_some_and(|c| c.len() >= 22));

    let mut auth = Authenticator::new(RP_ID, ORIGIN);
    let credential = auth.create(pk);
    // A name is required: 400 naming it, and nothing is added.
    let r = app
        .req(
            Method::POST,
            "/dev/v1/me/passkeys",
            Some(s),
            Some(
                json!({"challenge_id": opt["challenge_id"], "name": " ", "credential": credential}),
            ),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["source"], "name", "{}", r.body);
    let r = app
        .req(
            Method::POST,
            "/dev/v1/me/passkeys",
            Some(s),
            Some(json!({"challenge_id": opt["challenge_id"], "name": "Laptop", "credential": credential})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["name"], "Laptop");
    let passkey_id = r.body["passkey_id"].as_str().unwrap().to_owned();
    assert!(r.body["created_at"].is_string());

    // The same challenge does not add a second passkey.
    let again = app
        .req(
            Method::POST,
            "/dev/v1/me/passkeys",
            Some(s),
            Some(json!({"challenge_id": opt["challenge_id"], "name": "Again", "credential": credential})),
        )
        .await;
    assert_eq!(again.status, 400);
    assert_eq!(again.body["source"], "challenge_id", "{}", again.body);

    let listed = list(&app, s).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["passkey_id"], passkey_id.as_str());
    assert_eq!(listed[0]["last_used_at"], Value::Null);
    assert!(
        mail_to(
            &app,
            "owner@acme.test",
            "A passkey was added to your account"
        )
        .await
    );

    // Signing in: no username, no allowCredentials.
    let opt = request_options(&app).await;
    assert!(
        opt["publicKey"]
            .get("allowCredentials")
            .is_none_or(|a| a.as_array().is_some_and(|a| a.is_empty()))
    );
    assert_eq!(opt["publicKey"]["rpId"], RP_ID);
    assert_eq!(opt["publicKey"]["userVerification"], "required");
    let credential = auth.get(&opt["publicKey"]);
    let r = finish_sign_in(&app, &opt["challenge_id"], credential.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["user"]["email"], "owner@acme.test");
    let pk_session = session_of(&r, "owner@acme.test");
    let me = app
        .req(Method::GET, "/dev/v1/me", Some(&pk_session), None)
        .await;
    assert_eq!(me.status, 200);
    assert!(list(&app, s).await[0]["last_used_at"].is_string());

    // A challenge is used once: the same assertion again, or a new one for
    // the same challenge, answers like a wrong password.
    let refused = bad_credentials(&app).await;
    let r = finish_sign_in(&app, &opt["challenge_id"], credential).await;
    assert_eq!((r.status.as_u16(), &r.body), (401, &refused));
    let credential = auth.get(&opt["publicKey"]);
    let r = finish_sign_in(&app, &opt["challenge_id"], credential).await;
    assert_eq!((r.status.as_u16(), &r.body), (401, &refused));

    let events = app.audit_events(&org, "").await;
    assert!(events.iter().any(|e| e["action"] == "passkey.added"));
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "session.created" && e["details"]["method"] == "passkey")
    );
}

#[tokio::test]
async fn a_challenge_expires_a_counter_going_back_and_another_origin_or_rp_id_are_refused() {
    let app = app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let mut auth = Authenticator::new(RP_ID, ORIGIN);
    add_passkey(&app, &org.owner, &mut auth, "Laptop").await;
    let refused = bad_credentials(&app).await;

    assert_eq!(sign_in_with(&app, &mut auth).await.status, 201);
    assert_eq!(sign_in_with(&app, &mut auth).await.status, 201);

    // Five minutes on the server's clock, then the challenge is gone.
    let opt = request_options(&app).await;
    app.advance_clock(Duration::from_secs(5 * 60 + 1)).await;
    let r = finish_sign_in(&app, &opt["challenge_id"], auth.get(&opt["publicKey"])).await;
    assert_eq!((r.status.as_u16(), &r.body), (401, &refused));
    assert_eq!(sign_in_with(&app, &mut auth).await.status, 201);

    // A copy of the key whose counter is behind: a cloned authenticator.
    let ahead = auth.sign_count;
    auth.sign_count = 1;
    let r = sign_in_with(&app, &mut auth).await;
    assert_eq!((r.status.as_u16(), &r.body), (401, &refused));
    auth.sign_count = ahead;
    assert_eq!(sign_in_with(&app, &mut auth).await.status, 201);

    // Another page's origin, or another site's RP ID: refused.
    auth.origin = "https://evil.test".into();
    let r = sign_in_with(&app, &mut auth).await;
    assert_eq!((r.status.as_u16(), &r.body), (401, &refused));
    auth.origin = ORIGIN.into();
    auth.rp_id = "evil.test".into();
    let r = sign_in_with(&app, &mut auth).await;
    assert_eq!((r.status.as_u16(), &r.body), (401, &refused));

    // A key nobody registered, with the owner's user handle: refused.
    let mut stranger = Authenticator::new(RP_ID, ORIGIN);
    stranger.user_handle = auth.user_handle.clone();
    let r = sign_in_with(&app, &mut stranger).await;
    assert_eq!((r.status.as_u16(), &r.body), (401, &refused));

    // Registering from another origin: 400 naming the credential, nothing added.
    let opt = creation_options(&app, &org.owner).await;
    let mut elsewhere = Authenticator::new(RP_ID, "https://evil.test");
    let credential = elsewhere.create(&opt["publicKey"]);
    let r = app
        .req(
            Method::POST,
            "/dev/v1/me/passkeys",
            Some(&org.owner),
            Some(json!({"challenge_id": opt["challenge_id"], "name": "Evil", "credential": credential})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["source"], "credential");
    assert_eq!(list(&app, &org.owner).await.len(), 1);
}

#[tokio::test]
async fn removing_needs_the_password_and_another_persons_passkey_is_not_found() {
    let app = app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let dev = app.invite_member(&org, "dev@acme.test", "developer").await;
    let mut auth = Authenticator::new(RP_ID, ORIGIN);
    let pk = add_passkey(&app, &dev, &mut auth, "Phone").await;
    let path = format!("/dev/v1/me/passkeys/{}", pk["passkey_id"].as_str().unwrap());

    let r = app
        .req(Method::DELETE, &path, Some(&dev), Some(json!({})))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "password_confirmation_failed");
    let r = app
        .req(
            Method::DELETE,
            &path,
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(
        r.status, 404,
        "the owner cannot remove the developer's passkey"
    );
    assert_eq!(list(&app, &dev).await.len(), 1);

    let r = app
        .req(
            Method::DELETE,
            &path,
            Some(&dev),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(list(&app, &dev).await.is_empty());
    assert_eq!(sign_in_with(&app, &mut auth).await.status, 401);
    assert!(
        mail_to(
            &app,
            "dev@acme.test",
            "A passkey was removed from your account"
        )
        .await
    );
    let events = app.audit_events(&org, "").await;
    assert!(events.iter().any(|e| e["action"] == "passkey.removed"));
}

#[tokio::test]
async fn a_passkey_session_counts_as_two_factors_where_the_organization_requires_them() {
    let app = app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let dev = app.invite_member(&org, "dev@acme.test", "developer").await;
    let mut auth = Authenticator::new(RP_ID, ORIGIN);
    add_passkey(&app, &dev, &mut auth, "Phone").await;
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
    let keys = format!("/dev/v1/orgs/{}/api-keys", org.org_id);

    let by_password = app.sign_in("dev@acme.test", PASSWORD).await;
    let r = app.req(Method::GET, &keys, Some(&by_password), None).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "two_factor_required");

    let r = sign_in_with(&app, &mut auth).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let by_passkey = session_of(&r, "dev@acme.test");
    let r = app.req(Method::GET, &keys, Some(&by_passkey), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
}
