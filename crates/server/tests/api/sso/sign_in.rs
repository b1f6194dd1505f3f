//! Signing in through the provider: the org's SSO settings checked, sealed and
//! owner-only, a new person joining through it, and every forged or foreign
//! answer (state, unverified email, domain, ID token) opening no session.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::spawn_app_with;

use super::{
    CLIENT_ID, Outcome, SECRET, Web, provider, put, role_of, settings, signed_in, through,
};

#[tokio::test]
async fn settings_are_checked_sealed_and_owner_only_and_a_new_person_joins_through_the_provider() {
    let app = spawn_app_with(&["--allow-insecure-issuers"], &[]).await;
    let Some(p) = provider(&app, "127.0.0.1", "sso settings") else {
        return;
    };
    let org = app
        .create_org("Example", "owner@example.test", &["Main"])
        .await;
    let path = format!("/dev/v1/orgs/{}/sso", org.org_id);
    assert_eq!(
        app.req(Method::GET, &path, Some(&org.owner), None)
            .await
            .status,
        404
    );
    let admin = app.invite_member(&org, "pat@example.test", "admin").await;
    let r = app
        .req(
            Method::PUT,
            &path,
            Some(&admin),
            Some(settings(&p.issuer, false)),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
    let mut wrong = settings(&p.issuer, false);
    wrong["password"] = "not-the-password-1".into();
    assert_eq!(
        put(&app, &org, wrong).await.code(),
        "password_confirmation_failed"
    );
    // An issuer that does not answer: 400 naming it, nothing stored.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = put(&app, &org, settings(&format!("http://{dead}"), false)).await;
    assert_eq!(
        (r.status.as_u16(), r.body["source"].as_str()),
        (400, Some("issuer")),
        "{}",
        r.body
    );
    assert_eq!(
        app.req(Method::GET, &path, Some(&org.owner), None)
            .await
            .status,
        404
    );
    let r = put(&app, &org, settings(&p.issuer, false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["domains"], json!(["example.test"]));
    assert_eq!(r.body["default_role"], "developer");
    let r = app.req(Method::GET, &path, Some(&org.owner), None).await;
    assert_eq!(
        (r.status.as_u16(), r.body["issuer"].as_str()),
        (200, Some(p.issuer.as_str()))
    );
    // The secret is sealed at rest: not in the database file in the clear.
    if app.database_url.is_none() {
        let raw = std::fs::read(app.data_dir.join("keygate.db")).unwrap_or_default();
        assert!(!raw.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    }
    // Another organization cannot claim the same domain.
    let other = app.create_org("Other", "boss@other.test", &["Main"]).await;
    assert_eq!(
        put(&app, &other, settings(&p.issuer, false)).await.status,
        409
    );

    let mut web = Web::new();
    let none = web
        .get(&format!(
            "{}/app/sso/start?email=someone@unclaimed.test",
            app.base
        ))
        .await;
    assert_eq!(none.status, 404);
    let start = web
        .get(&format!(
            "{}/app/sso/start?email=newdev@example.test",
            app.base
        ))
        .await;
    assert_eq!(start.status, 302);
    let q: HashMap<String, String> = reqwest::Url::parse(start.location.as_deref().unwrap())
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["scope"], "openid email");
    assert_eq!(q["redirect_uri"], format!("{}/app/sso/callback", app.base));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 16 && q["nonce"].len() >= 16);
    assert!(
        start
            .set_cookies
            .iter()
            .any(|c| c.starts_with("keygate_sso=") && c.contains("SameSite=Lax"))
    );

    let o = through(&app, &p, "newdev@example.test", "newdev", false).await;
    assert!(
        signed_in(&o),
        "{} {:?} {}",
        o.callback.status,
        o.callback.location,
        o.callback.body
    );
    assert_eq!(
        role_of(&app, &org, "newdev@example.test").await.as_deref(),
        Some("developer")
    );
    let events = app.audit_events(&org, "limit=50").await;
    let sso_session =
        |e: &&Value| e["action"] == "session.created" && e["details"]["method"] == "sso";
    assert!(
        events
            .iter()
            .any(|e| sso_session(&e) && e["actor_email"] == "newdev@example.test"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "member.joined" && e["details"]["method"] == "sso")
    );
    assert!(events.iter().any(|e| e["action"] == "sso.updated"));
    assert!(!events.iter().any(|e| e.to_string().contains(SECRET)));
}

#[tokio::test]
async fn a_forged_state_an_unverified_email_a_foreign_domain_or_a_bad_id_token_opens_no_session() {
    let app = spawn_app_with(&["--allow-insecure-issuers"], &[]).await;
    let Some(p) = provider(&app, "127.0.0.1", "sso refusals") else {
        return;
    };
    let org = app
        .create_org("Example", "owner@example.test", &["Main"])
        .await;
    assert_eq!(
        put(&app, &org, settings(&p.issuer, false)).await.status,
        200
    );
    let refused = |o: &Outcome| {
        o.callback.status == 403
            && !o
                .callback
                .set_cookies
                .iter()
                .any(|c| c.starts_with("keygate_session="))
            && o.app
                .location
                .as_deref()
                .is_some_and(|l| l.ends_with("/app/sign-in"))
    };
    let o = through(&app, &p, "newdev@example.test", "newdev", true).await;
    assert!(
        refused(&o),
        "forged state: {} {}",
        o.callback.status,
        o.callback.body
    );
    let o = through(&app, &p, "unverified@example.test", "unverified", false).await;
    assert!(refused(&o), "unverified: {}", o.callback.body);
    assert!(o.callback.body.contains("not verified your email"));
    // Started for a claimed domain, but the provider's person is elsewhere.
    let o = through(&app, &p, "newdev2@example.test", "stray", false).await;
    assert!(refused(&o), "foreign domain: {}", o.callback.body);
    for how in ["nonce", "exp"] {
        p.alter_next(how).await;
        let o = through(&app, &p, "newdev@example.test", "newdev", false).await;
        assert!(
            refused(&o),
            "ID token with another {how}: {}",
            o.callback.body
        );
    }
    for email in [
        "unverified@example.test",
        "stray@elsewhere.test",
        "newdev@example.test",
    ] {
        assert_eq!(role_of(&app, &org, email).await, None, "{email}");
    }
    // The same callback without the browser's state cookie: refused too.
    let o = through(&app, &p, "newdev@example.test", "newdev", false).await;
    assert!(
        signed_in(&o),
        "after the refusals, a right sign-in still works"
    );
}
