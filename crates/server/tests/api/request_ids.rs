//! Request ids: a well-formed `x-request-id` is kept, anything else is
//! replaced, a missing one is made; every answer carries it, the upstream gets
//! it and the request's log line shows it.

use serde_json::json;

use crate::gateway::gateway;
use crate::helpers::*;

async fn get(app: &TestApp, path: &str, id: Option<&str>) -> Resp {
    let mut rb = app.http.get(format!("{}{path}", app.base));
    if let Some(id) = id {
        rb = rb.header("x-request-id", id);
    }
    app.send(rb).await
}

fn id_of(r: &Resp) -> String {
    r.headers
        .get("x-request-id")
        .expect("every answer has x-request-id")
        .to_str()
        .unwrap()
        .to_owned()
}

fn well_formed(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[tokio::test]
async fn a_given_id_is_echoed_a_malformed_one_replaced_and_a_missing_one_made() {
    let app = spawn_app().await;
    let r = get(&app, "/healthz", Some("abc-123_X.y")).await;
    assert_eq!(r.status, 200);
    assert_eq!(id_of(&r), "abc-123_X.y");
    assert!(
        app.wait_for_log("abc-123_X.y", 10).await,
        "the request's log line has its id:\n{}",
        app.log()
    );
    let line = app
        .log()
        .lines()
        .find(|l| l.contains("abc-123_X.y"))
        .unwrap_or_default()
        .to_owned();
    assert!(line.contains("path=/healthz"), "{line}");

    let too_long = "a".repeat(65);
    for bad in ["has space", "semi;colon", "ünï", too_long.as_str()] {
        let r = get(&app, "/healthz", Some(bad)).await;
        let id = id_of(&r);
        assert_ne!(id, bad);
        assert!(well_formed(&id), "{id:?}");
    }

    // Made when missing, on every surface and on errors too; different each time.
    let mut seen = std::collections::HashSet::new();
    for path in [
        "/healthz",
        "/app/login",
        "/dev/v1/me",
        "/no/such/route",
        "/openapi.json",
    ] {
        let r = get(&app, path, None).await;
        let id = id_of(&r);
        assert!(well_formed(&id) && id.len() >= 16, "{path}: {id:?}");
        assert!(seen.insert(id), "{path}: a fresh id per request");
    }
    let r = app
        .send(app.http.post(format!("{}/healthz", app.base)))
        .await;
    assert_eq!(r.status, 405);
    assert!(well_formed(&id_of(&r)));
}

#[tokio::test]
async fn the_upstream_receives_the_request_id_and_the_caller_gets_it_back() {
    let g = gateway(&[]).await;
    let (app, org) = (&g.app, &g.org);
    let sk = app
        .scoped_key(org, json!({"name": "r", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let token = app.token(&sk, None).await;
    let r = app
        .send(
            app.http
                .get(format!("{}/api/v1/balances/current", app.base))
                .bearer_auth(&token)
                .header("x-request-id", "trace-42"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["headers"]["x-request-id"], "trace-42");
    assert_eq!(id_of(&r), "trace-42");

    // A made id is the one the upstream saw.
    let r = app
        .send(
            app.http
                .get(format!("{}/api/v1/balances/current", app.base))
                .bearer_auth(&token)
                .header("x-request-id", "not valid!"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = id_of(&r);
    assert_ne!(id, "not valid!");
    assert_eq!(r.body["headers"]["x-request-id"], id.as_str());
}
