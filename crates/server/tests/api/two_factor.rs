//! Two-factor sign-in (TOTP, codes computed here from the secret) and an
//! organization's policy that requires it.

use keygate_core::totp::{TotpSecret, step_of};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Session, TestApp, poll, spawn_app};

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The code an authenticator app shows `steps` time steps from now.
pub fn code(secret: &str, steps: i64) -> String {
    TotpSecret::from_base32(secret)
        .unwrap()
        .code_at_step(step_of(now_secs()) + steps)
}

/// A code that is none of the accepted ones around now.
pub fn wrong_code(secret: &str) -> String {
    let near: Vec<String> = (-2..=2).map(|d| code(secret, d)).collect();
    ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap()
        .to_owned()
}

/// Turns two-factor on for `s`; returns the secret and the recovery codes.
pub async fn enrol(app: &TestApp, s: &Session) -> (String, Vec<String>) {
    let r = app
        .req(
            Method::POST,
            "/dev/v1/me/two-factor",
            Some(s),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let r = app
        .req(
            Method::POST,
            "/dev/v1/me/two-factor/confirm",
            Some(s),
            Some(json!({"code": code(&secret, 0)})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let codes: Vec<String> = r.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    for c in &codes {
        app.remember(c);
    }
    (secret, codes)
}

pub async fn challenge(app: &TestApp, email: &str) -> String {
    let body = json!({"email": email, "password": PASSWORD});
    let r = app
        .req(Method::POST, "/dev/v1/sessions", None, Some(body))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["two_factor_required"], true);
    assert!(r.body.get("session_token").is_none());
    let challenge = r.body["challenge"].as_str().unwrap().to_owned();
    app.remember(&challenge); // never in the log
    challenge
}

pub async fn second_step(app: &TestApp, challenge: &str, code: &str) -> crate::helpers::Resp {
    let body = json!({"challenge": challenge, "code": code});
    app.req(
        Method::POST,
        "/dev/v1/sessions/two-factor",
        None,
        Some(body),
    )
    .await
}

/// A new session of `email` (two-factor on): password, then `code`.
pub async fn sign_in_with_code(app: &TestApp, email: &str, code: &str) -> Session {
    let ch = challenge(app, email).await;
    let r = second_step(app, &ch, code).await;
    assert_eq!(r.status, 201, "sign in {email} with a code: {}", r.body);
    Session {
        token: r.body["session_token"].as_str().unwrap().to_owned(),
        email: email.to_owned(),
    }
}

#[tokio::test]
async fn two_factor_sign_in_takes_each_code_once_and_each_recovery_code_once() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let me = &org.owner;

    let r = app
        .req(
            Method::POST,
            "/dev/v1/me/two-factor",
            Some(me),
            Some(json!({"password": "not-my-password-1"})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (401, "password_confirmation_failed")
    );
    let r = app
        .req(
            Method::POST,
            "/dev/v1/me/two-factor",
            Some(me),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32, "20 bytes in base32 without padding");
    assert_eq!(
        r.body["otpauth_uri"],
        format!(
            "otpauth://totp/Keygate:owner@acme.test?secret={secret}&issuer=Keygate&algorithm=SHA1&digits=6&period=30"
        )
    );
    // Not on before a code confirms it.
    app.sign_in("owner@acme.test", PASSWORD).await;
    let r = app
        .req(
            Method::POST,
            "/dev/v1/me/two-factor/confirm",
            Some(me),
            Some(json!({"code": wrong_code(&secret)})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "validation_error"));
    let r = app
        .req(
            Method::POST,
            "/dev/v1/me/two-factor/confirm",
            Some(me),
            Some(json!({"code": code(&secret, 0)})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let codes: Vec<String> = serde_json::from_value(r.body["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    codes.iter().for_each(|c| app.remember(c));
    let members = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/members", org.org_id),
            Some(me),
            None,
        )
        .await;
    assert_eq!(members.body[0]["two_factor"], true);

    // A wrong code answers exactly like a wrong password.
    let wrong_password = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "owner@acme.test", "password": "not-my-password-1"})),
        )
        .await;
    let ch = challenge(&app, "owner@acme.test").await;
    let r = second_step(&app, &ch, &wrong_code(&secret)).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, wrong_password.body);

    // The next step's code (the current one confirmed enrolment): a session.
    let next = code(&secret, 1);
    let r = second_step(&app, &ch, &next).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let s = Session {
        token: r.body["session_token"].as_str().unwrap().to_owned(),
        email: me.email.clone(),
    };
    assert_eq!(
        app.req(Method::GET, "/dev/v1/me", Some(&s), None)
            .await
            .status,
        200
    );
    // The challenge is spent, and the code too.
    assert_eq!(second_step(&app, &ch, &code(&secret, 0)).await.status, 401);
    let ch = challenge(&app, "owner@acme.test").await;
    assert_eq!(
        second_step(&app, &ch, &next).await.status,
        401,
        "a replayed code"
    );

    // Recovery codes: each once, typed in any case.
    let ch = challenge(&app, "owner@acme.test").await;
    assert_eq!(
        second_step(&app, &ch, &codes[0].to_uppercase())
            .await
            .status,
        201
    );
    let ch = challenge(&app, "owner@acme.test").await;
    assert_eq!(second_step(&app, &ch, &codes[0]).await.status, 401);
    let audit = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/audit-events", org.org_id),
            Some(me),
            None,
        )
        .await;
    let text = audit.body.to_string();
    assert!(
        text.contains("two_factor.enabled") && text.contains("two_factor.recovery_code_used"),
        "{text}"
    );

    // Turning it off takes the password and a code.
    let off = |code: String, password: &'static str| {
        app.req(
            Method::DELETE,
            "/dev/v1/me/two-factor",
            Some(me),
            Some(json!({"password": password, "code": code})),
        )
    };
    assert_eq!(off(wrong_code(&secret), PASSWORD).await.status, 400);
    assert_eq!(off(codes[1].clone(), "not-my-password-1").await.status, 401);
    assert_eq!(off(codes[1].clone(), PASSWORD).await.status, 204);
    app.sign_in("owner@acme.test", PASSWORD).await;
    assert!(
        app.req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/audit-events", org.org_id),
            Some(me),
            None
        )
        .await
        .body
        .to_string()
        .contains("two_factor.disabled")
    );
    let log = app.log();
    assert!(!log.contains(&secret) && !codes.iter().any(|c| log.contains(c.as_str())));

    // The user is told of each change by mail (.eml files without SMTP).
    for subject in [
        "Two-factor authentication was turned on",
        "A recovery code was used to sign in",
        "Two-factor authentication was turned off",
    ] {
        assert!(
            mail_to(&app, "owner@acme.test", subject).await,
            "no mail: {subject}"
        );
    }
}

/// Waits up to 10 s for a mail to `to` with `subject` in the data dir.
pub(crate) async fn mail_to(app: &TestApp, to: &str, subject: &str) -> bool {
    poll(std::time::Duration::from_secs(10), async || {
        let found = std::fs::read_dir(app.data_dir.join("mail"))
            .into_iter()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .any(|t| {
                t.contains(&format!("To: {to}")) && t.contains(&format!("Subject: {subject}"))
            });
        if found { Ok(()) } else { Err(()) }
    })
    .await
    .is_ok()
}

async fn require(
    app: &TestApp,
    at: &str,
    s: &Session,
    on: bool,
    password: Option<&str>,
) -> crate::helpers::Resp {
    let mut body = json!({"require_two_factor": on});
    if let Some(p) = password {
        body["password"] = p.into();
    }
    app.req(Method::PATCH, at, Some(s), Some(body)).await
}

#[tokio::test]
async fn an_org_that_requires_two_factor_refuses_members_without_it() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let admin = app.invite_member(&org, "admin@acme.test", "admin").await;
    let dev = app.invite_member(&org, "dev@acme.test", "developer").await;
    let at = format!("/dev/v1/orgs/{}", org.org_id);

    let r = require(&app, &at, &admin, true, Some(PASSWORD)).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, "forbidden"),
        "owner only"
    );
    let r = require(&app, &at, &org.owner, true, Some(PASSWORD)).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, "two_factor_required"),
        "the owner needs it first"
    );
    enrol(&app, &org.owner).await;
    let r = require(&app, &at, &org.owner, true, None).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (401, "password_confirmation_failed")
    );
    let r = require(&app, &at, &org.owner, true, Some(PASSWORD)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["org_id"].as_str(), &r.body["require_two_factor"]),
        (Some(org.org_id.as_str()), &Value::Bool(true))
    );

    // Members without two-factor: refused on every route of the org...
    for path in ["/api-keys", "/accounts", ""] {
        let r = app
            .req(Method::GET, &format!("{at}{path}"), Some(&dev), None)
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (403, "two_factor_required"),
            "{path}"
        );
    }
    // ...but they can still turn it on, and then they are let in.
    enrol(&app, &dev).await;
    let r = app
        .req(Method::GET, &format!("{at}/api-keys"), Some(&dev), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .req(
            Method::GET,
            &format!("{at}/members"),
            Some(&org.owner),
            None,
        )
        .await;
    let on: Vec<(&str, bool)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap(),
                m["two_factor"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        on,
        [
            ("owner@acme.test", true),
            ("admin@acme.test", false),
            ("dev@acme.test", true)
        ]
    );
    assert_eq!(
        app.req(Method::GET, &format!("{at}/accounts"), Some(&admin), None)
            .await
            .code(),
        "two_factor_required"
    );

    // The OpenAPI document describes all of it.
    let doc = app.req(Method::GET, "/openapi.json", None, None).await;
    for path in [
        "/dev/v1/me/two-factor",
        "/dev/v1/me/two-factor/confirm",
        "/dev/v1/sessions/two-factor",
        "/dev/v1/orgs/{org_id}",
    ] {
        assert!(
            doc.body["paths"].get(path).is_some(),
            "{path} not in /openapi.json"
        );
    }
    assert!(
        doc.body["paths"]["/dev/v1/orgs/{org_id}"]
            .get("patch")
            .is_some()
    );

    let r = require(&app, &at, &org.owner, false, Some(PASSWORD)).await;
    assert_eq!(r.body["require_two_factor"], false);
    assert_eq!(
        app.req(Method::GET, &format!("{at}/accounts"), Some(&admin), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_reset_link_or_an_invitation_alone_does_not_get_past_two_factor() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let other = app.create_org("Other", "boss@other.test", &[]).await;
    let (secret, recovery) = enrol(&app, &org.owner).await;

    // Password reset: the mailed link and a new password are not enough.
    let r = app
        .req(
            Method::POST,
            "/dev/v1/password-resets",
            None,
            Some(json!({"email": "owner@acme.test"})),
        )
        .await;
    assert_eq!(r.status, 202);
    let link = app
        .mailed_link("owner@acme.test", "/app/password-reset/")
        .await;
    let token = link.rsplit('/').next().unwrap().to_owned();
    let new_password = "a-whole-new-passphrase-for-2027";
    let complete = |code: Option<String>| {
        let mut body = json!({"token": token, "new_password": new_password});
        if let Some(c) = code {
            body["code"] = c.into();
        }
        app.req(
            Method::POST,
            "/dev/v1/password-resets/complete",
            None,
            Some(body),
        )
    };
    assert_eq!(complete(None).await.status, 401);
    assert_eq!(complete(Some(wrong_code(&secret))).await.status, 401);
    let r = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "owner@acme.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "the old password still works: {}", r.body);
    assert_eq!(complete(Some(code(&secret, 1))).await.status, 204);
    app.remember(new_password);

    // An invitation for an existing account with two-factor on: the password
    // alone does not sign anyone in.
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/invitations", other.org_id),
            Some(&other.owner),
            Some(json!({"email": "owner@acme.test", "role": "developer", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let link = app
        .mailed_link("owner@acme.test", "/app/invitations/")
        .await;
    let token = link.rsplit('/').next().unwrap().to_owned();
    let accept = |code: Option<String>| {
        let mut body = json!({"token": token, "password": new_password});
        if let Some(c) = code {
            body["code"] = c.into();
        }
        app.req(Method::POST, "/dev/v1/invitations/accept", None, Some(body))
    };
    assert_eq!(accept(None).await.status, 401);
    // The reset took the next step's code, so no code of now works again yet:
    // a recovery code does.
    assert_eq!(accept(Some(code(&secret, 0))).await.status, 401);
    let r = accept(Some(recovery[0].clone())).await;
    assert_eq!(r.status, 201, "{}", r.body);
}
