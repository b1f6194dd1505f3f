//! Suspending and resuming an organization: its keys, tokens and pages are
//! refused at once and work again on resume, on one instance and, within a
//! second, on the others.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

use super::{audit_actors, new_token, op, verify};

const INTROSPECTION: &str = "introspection-secret-for-operator-tests";

/// The Developer app's settings page of the org, as a signed-in member.
async fn app_page(app: &TestApp, org_id: &str, member: &Session) -> String {
    let page = app
        .http
        .get(format!("{}/app/orgs/{org_id}/settings", app.base))
        .header("cookie", format!("keygate_session={}", member.token))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

async fn introspect(app: &TestApp, token: &str) -> Value {
    let rb = app
        .http
        .post(format!("{}/oauth/introspect", app.base))
        .basic_auth("rs", Some(INTROSPECTION))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"));
    let r = app.send(rb).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[tokio::test]
async fn a_suspended_orgs_keys_and_tokens_are_refused_at_once_and_work_again_on_resume() {
    let app = spawn_app_with(&["--introspection-secret", INTROSPECTION], &[]).await;
    let back = new_token(&app, "back-office");
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let other = app.create_org("Globex", "owner@globex.test", &["G"]).await;
    let key = app
        .scoped_key(&org, json!({"name": "r", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let other_key = app
        .scoped_key(&other, json!({"name": "g", "account_permissions": {"accounts": [&other.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let token = app.token(&key, None).await;
    let other_token = app.token(&other_key, None).await;
    assert_eq!(verify(&app, &token).await.status, 200);

    let s = op(
        &app,
        Method::POST,
        &format!("/operator/v1/orgs/{}/suspend", org.org_id),
        &back,
        Some(json!({"reason": "invoice 42 unpaid"})),
    )
    .await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["status"], "suspended");

    let login = app.login(cid(&key), secret(&key), None).await;
    assert_eq!(
        (login.status.as_u16(), login.code()),
        (403, "org_suspended")
    );
    let v = verify(&app, &token).await;
    assert_eq!((v.status.as_u16(), v.code()), (403, "org_suspended"));
    assert_eq!(introspect(&app, &token).await, json!({"active": false}));
    // Another org is untouched; members still sign in.
    assert_eq!(verify(&app, &other_token).await.status, 200);
    let member = app.sign_in("owner@acme.test", PASSWORD).await;
    let page = app_page(&app, &org.org_id, &member).await;
    assert!(
        page.contains("This organization is suspended") && page.contains("invoice 42 unpaid"),
        "the app shows the suspension and its reason"
    );

    let listed = op(
        &app,
        Method::GET,
        "/operator/v1/orgs?status=suspended",
        &back,
        None,
    )
    .await;
    let ids: Vec<&str> = listed.body["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["org_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![org.org_id.as_str()]);
    assert_eq!(
        listed.body["orgs"][0]["suspended_reason"],
        "invoice 42 unpaid"
    );
    let active = op(
        &app,
        Method::GET,
        "/operator/v1/orgs?status=active",
        &back,
        None,
    )
    .await;
    assert!(!active.body.to_string().contains(&org.org_id));

    let r = op(
        &app,
        Method::POST,
        &format!("/operator/v1/orgs/{}/resume", org.org_id),
        &back,
        None,
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), &r.body["status"]),
        (200, &json!("active"))
    );
    assert_eq!(app.login(cid(&key), secret(&key), None).await.status, 201);
    assert_eq!(
        verify(&app, &token).await.status,
        200,
        "the same token works again"
    );
    assert_eq!(introspect(&app, &token).await["active"], true);
    let page = app_page(&app, &org.org_id, &member).await;
    assert!(!page.contains("This organization is suspended"));

    let actors = audit_actors(&app, &org.org_id, &org.owner).await;
    for action in ["org.suspended", "org.resumed"] {
        assert!(
            actors
                .iter()
                .any(|(a, who)| a == action && who == "operator:back-office"),
            "{action} by operator:back-office in {actors:?}"
        );
    }
}

/// Polls `f` on `app` until it holds or a second passes.
async fn within_a_second<F, Fut>(f: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        if f().await {
            return true;
        }
        if std::time::Instant::now() > end {
            return false;
        }
        // A fine look: the test measures how soon the other instances follow.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_suspension_on_one_instance_bites_on_the_others_within_a_second_and_so_does_resume() {
    let Some((apps, _dir)) =
        crate::multi::cluster("operator: suspension across instances", &[]).await
    else {
        return;
    };
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    let back = new_token(a, "back-office");
    let org = a.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = a
        .scoped_key(&org, json!({"name": "r", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let token = a.token(&key, None).await;
    for app in [b, c] {
        assert_eq!(verify(app, &token).await.status, 200);
        assert_eq!(app.login(cid(&key), secret(&key), None).await.status, 201);
    }
    let s = op(
        a,
        Method::POST,
        &format!("/operator/v1/orgs/{}/suspend", org.org_id),
        &back,
        Some(json!({"reason": "unpaid"})),
    )
    .await;
    assert_eq!(s.status, 200, "{}", s.body);
    for app in [b, c] {
        assert!(
            within_a_second(|| async {
                let v = verify(app, &token).await;
                let l = app.login(cid(&key), secret(&key), None).await;
                v.code() == "org_suspended" && l.code() == "org_suspended"
            })
            .await,
            "suspended on every instance"
        );
    }
    let r = op(
        a,
        Method::POST,
        &format!("/operator/v1/orgs/{}/resume", org.org_id),
        &back,
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    for app in [b, c] {
        assert!(
            within_a_second(|| async { verify(app, &token).await.status == 200 }).await,
            "resumed on every instance"
        );
    }
}
