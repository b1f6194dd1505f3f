//! Federation rules through the API: checked, stored, edited and duplicated.

use reqwest::Method;
use serde_json::{Value, json};

use crate::gateway::gateway;
use crate::helpers::*;
use crate::oauth::machine_key;

use super::{AUDIENCE, SUBJECT_RULE};

#[tokio::test]
async fn federation_rules_are_checked_stored_edited_and_duplicated() {
    let g = gateway(&[]).await;
    let app = &g.app;
    let path = |id: &str| format!("/dev/v1/orgs/{}/scoped-keys/{id}", g.org.org_id);
    let key = machine_key(&g, json!({})).await;
    assert_eq!(key["federation"], json!([]));
    let key_path = path(cid(&key));
    let patch = |body: Value| {
        let mut body = body;
        body["password"] = PASSWORD.into();
        app.req(Method::PATCH, &key_path, Some(&g.org.owner), Some(body))
    };
    let rule = json!({"issuer": "https://token.actions.githubusercontent.com",
                      "audience": AUDIENCE, "subject": SUBJECT_RULE});

    // Without --allow-insecure-issuers an http:// issuer is refused.
    let http = json!({"issuer": "http://127.0.0.1:9", "audience": "a", "subject": "s"});
    let r = patch(json!({"federation": [rule, http]})).await;
    assert_eq!(
        (r.status.as_u16(), r.body["source"].as_str()),
        (400, Some("federation[1].issuer")),
        "{}",
        r.body
    );
    let r =
        patch(json!({"federation": [{"issuer": rule["issuer"], "audience": "a", "subject": "*"}]}))
            .await;
    assert_eq!(
        (r.status.as_u16(), r.body["source"].as_str()),
        (400, Some("federation[0].subject")),
        "{}",
        r.body
    );
    let eleven: Vec<Value> = (0..11).map(|_| rule.clone()).collect();
    let r = patch(json!({"federation": eleven})).await;
    assert_eq!(
        (r.status.as_u16(), r.body["source"].as_str()),
        (400, Some("federation")),
        "{}",
        r.body
    );
    let r = patch(json!({"federation": [{"issuer": rule["issuer"], "audience": "a"}]})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Nothing half-written.
    assert_eq!(
        app.get_scoped_key(&g.org, cid(&key)).await["federation"],
        json!([])
    );

    let r = patch(json!({"federation": [rule]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        app.get_scoped_key(&g.org, cid(&key)).await["federation"],
        json!([rule])
    );
    // An edit of another field keeps them; a duplicate copies them.
    let r = patch(json!({"name": "renamed"})).await;
    assert_eq!(r.body["federation"], json!([rule]));
    let dup = app
        .req(
            Method::POST,
            &format!("{}/duplicate", path(cid(&key))),
            Some(&g.org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(dup.status, 201, "{}", dup.body);
    assert_eq!(dup.body["federation"], json!([rule]));
    // [] removes them.
    let r = patch(json!({"federation": []})).await;
    assert_eq!(r.body["federation"], json!([]));
    let events = app
        .audit_events(&g.org, &format!("client_id={}", cid(&key)))
        .await;
    let changed = events
        .iter()
        .find(|e| e["action"] == "scoped_key.updated" && e["details"]["federation"].is_object())
        .expect("the edit's audit event names the rules");
    assert_eq!(changed["details"]["federation"]["before"], json!([rule]));
}
