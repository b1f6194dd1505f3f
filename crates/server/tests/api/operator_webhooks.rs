//! The operator's webhooks over real HTTP: registered, listed without the
//! secret, refused for an unknown event or a bad URL, and a real receiver
//! getting signed deliveries of every kind (`org.created`, `org.suspended`,
//! `org.resumed`, `quota.threshold`, `api_key.exposed`) from several
//! organizations, retried after it failed; organizations never see them.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;
use crate::inviters::sql_count;
use crate::notify::hex_hmac;
use crate::operator::{new_token, op, verify};
use crate::receivers::WebhookReceiver;

const GITLAB_TOKEN: &str = "gl-revocation-0123456789abcdef";
const EVENTS: [&str; 5] = [
    "org.created",
    "org.suspended",
    "org.resumed",
    "quota.threshold",
    "api_key.exposed",
];

#[tokio::test]
async fn operator_webhooks_get_every_orgs_events_signed_and_retried() {
    let hook = WebhookReceiver::start().await;
    hook.fail_next(1);
    let app = spawn_app_with(
        &[
            "--allow-insecure-webhooks",
            "--gitlab-revocation-token",
            GITLAB_TOKEN,
        ],
        &[("KEYGATE_RETRY_BASE_MS", "200")],
    )
    .await;
    let back = new_token(&app, "back-office");
    let at = "/operator/v1/webhooks";
    for (body, field) in [
        (
            json!({"url": hook.url(), "events": ["org.deleted"]}),
            "events",
        ),
        (
            json!({"url": hook.url(), "events": ["scoped_key.created"]}),
            "events",
        ),
        (json!({"url": hook.url(), "events": []}), "events"),
        (
            json!({"url": "ftp://example.com/x", "events": ["org.created"]}),
            "url",
        ),
    ] {
        let r = op(&app, Method::POST, at, &back, Some(body)).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "validation_error"),
            "{}",
            r.body
        );
        assert_eq!(r.body["source"], field, "{}", r.body);
    }
    let r = op(
        &app,
        Method::POST,
        at,
        &back,
        Some(json!({"url": hook.url(), "events": EVENTS})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    app.remember(&secret);
    let webhook_id = r.body["webhook_id"].as_str().unwrap().to_owned();
    let list = op(&app, Method::GET, at, &back, None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["webhooks"][0]["webhook_id"], webhook_id.as_str());
    assert!(list.body["webhooks"][0].get("secret").is_none());
    // An API key or a session is not the operator.
    let org0 = app.create_org("Zeta", "owner@zeta.test", &["Z"]).await;
    let r = app.req(Method::GET, at, Some(&org0.owner), None).await;
    assert_eq!(r.status, 401);

    // A plan of one call a day: the one call reaches 80, 90 and 100 %.
    let r = op(
        &app,
        Method::PUT,
        "/operator/v1/plans/tiny",
        &back,
        Some(json!({"name": "Tiny", "quotas": [{"period": "day", "requests": 1}]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut orgs = Vec::new();
    for (name, email) in [("Acme", "owner@acme.test"), ("Beta", "owner@beta.test")] {
        let r = op(
            &app,
            Method::POST,
            "/operator/v1/orgs",
            &back,
            Some(
                json!({"name": name, "owner_email": email, "accounts": ["Main"],
                               "plan_id": "tiny", "external_id": format!("ext-{name}")}),
            ),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        orgs.push(r.body["org_id"].as_str().unwrap().to_owned());
    }
    let acme = &orgs[0];
    let r = op(
        &app,
        Method::POST,
        &format!("/operator/v1/orgs/{acme}/suspend"),
        &back,
        Some(json!({"reason": "unpaid"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = op(
        &app,
        Method::POST,
        &format!("/operator/v1/orgs/{acme}/resume"),
        &back,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A key of an organization made by the CLI (with a password owner): one
    // call reaches its quota, then it is reported leaked.
    let org = app.create_org("Gamma", "owner@gamma.test", &["G"]).await;
    let r = op(
        &app,
        Method::PATCH,
        &format!("/operator/v1/orgs/{}", org.org_id),
        &back,
        Some(json!({"plan_id": "tiny"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let key = app
        .scoped_key(&org, json!({"name": "k", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let token = app.token(&key, None).await;
    assert_eq!(verify(&app, &token).await.status, 200);
    let report = json!([{"type": "keygate_api_key", "token": secret_of(&key),
                         "location": "https://gitlab.example/p/-/blob/main/.env"}]);
    let r = app
        .send(
            app.http
                .post(format!(
                    "{}/secret-scanning/gitlab/v1/revoke_tokens",
                    app.base
                ))
                .bearer_auth(GITLAB_TOKEN)
                .json(&report),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);

    let want = |p: &[crate::receivers::Post]| {
        let ok: Vec<_> = p
            .iter()
            .filter(|p| p.answered == 200)
            .map(|p| p.json())
            .collect();
        let names: BTreeSet<String> = ok
            .iter()
            .map(|b| b["name"].as_str().unwrap_or("").to_owned())
            .collect();
        EVENTS.iter().all(|e| names.contains(*e))
            && ok.iter().filter(|b| b["name"] == "org.created").count() >= 3
            && ok.iter().filter(|b| b["name"] == "quota.threshold").count() >= 3
    };
    let posts = hook.wait_until(30, want).await;
    assert!(
        want(&posts),
        "{:?}",
        posts
            .iter()
            .map(|p| (p.answered, p.json()["name"].clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        posts[0].answered, 500,
        "the first delivery failed and was retried"
    );
    for p in &posts {
        assert_eq!(
            p.headers["x-signature"],
            hex_hmac(&secret, &p.headers["x-timestamp"], &p.body),
            "signed"
        );
    }
    let ok: Vec<_> = posts
        .iter()
        .filter(|p| p.answered == 200)
        .map(|p| p.json())
        .collect();
    let created: BTreeSet<&str> = ok
        .iter()
        .filter(|b| b["name"] == "org.created")
        .map(|b| b["org_id"].as_str().unwrap())
        .collect();
    assert!(created.contains(acme.as_str()) && created.contains(orgs[1].as_str()));
    let suspended = ok.iter().find(|b| b["name"] == "org.suspended").unwrap();
    assert_eq!(suspended["org_id"], acme.as_str());
    assert_eq!(suspended["data"]["reason"], "unpaid");
    let mut percents: Vec<i64> = ok
        .iter()
        .filter(|b| b["name"] == "quota.threshold")
        .map(|b| b["data"]["percent"].as_i64().unwrap())
        .collect();
    percents.sort();
    assert_eq!(percents, [80, 90, 100]);
    let exposed = ok.iter().find(|b| b["name"] == "api_key.exposed").unwrap();
    assert_eq!(exposed["data"]["client_id"], cid(&key));
    // Each event once (the retried one included).
    let ids: Vec<&str> = ok.iter().map(|b| b["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids.len(),
        ids.iter().collect::<BTreeSet<_>>().len(),
        "{ids:?}"
    );
    // The organization's delivery log does not show the operator's.
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/deliveries", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.to_string().contains(&webhook_id), "{}", r.body);

    // Deleted: 204, then 404; nothing more is sent to it.
    let deliveries_to_it =
        format!("select count(*) from deliveries where operator_webhook_id = '{webhook_id}'");
    assert!(
        sql_count(&app, &deliveries_to_it).await > 0,
        "its deliveries are rows"
    );
    let one = format!("{at}/{webhook_id}");
    assert_eq!(
        op(&app, Method::DELETE, &one, &back, None).await.status,
        204
    );
    assert_eq!(
        op(&app, Method::DELETE, &one, &back, None).await.status,
        404
    );
    let before = hook.arrived();
    let r = op(
        &app,
        Method::POST,
        "/operator/v1/orgs",
        &back,
        Some(json!({"name": "Delta", "owner_email": "owner@delta.test"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // A delivery is an outbox row written with its event, in the transaction
    // that answered 201: there is none for the deleted webhook to send.
    assert_eq!(sql_count(&app, &deliveries_to_it).await, 0);
    assert_eq!(hook.arrived(), before);
}

fn secret_of(key: &serde_json::Value) -> &str {
    key["api_key"].as_str().unwrap()
}
