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

#[tokio::test]
async fn log_format_json_writes_one_object_per_line_with_the_request_id() {
    let app = spawn_app_with(&["--log-format", "json"], &[]).await;
    let r = get(&app, "/healthz", Some("json-req-1")).await;
    assert_eq!(r.status, 200);
    let r = get(&app, "/dev/v1/me", None).await;
    assert_eq!(r.status, 401);
    let made = id_of(&r);
    assert!(app.wait_for_log("json-req-1", 10).await, "{}", app.log());
    assert!(app.wait_for_log(&made, 10).await, "{}", app.log());
    let mut lines = 0;
    let mut found = 0;
    for line in app.log().lines() {
        // The address and app link are plain prints for people and scripts.
        if line.starts_with("keygate listening on ") || line.starts_with("Developer app: ") {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v.is_object() && v["level"].is_string(), "{line}");
        lines += 1;
        if v["message"] == "request" {
            let (id, path) = (v["span"]["request_id"].as_str(), v["path"].as_str());
            match path {
                Some("/healthz") => assert_eq!(id, Some("json-req-1"), "{line}"),
                Some("/dev/v1/me") => assert_eq!(id, Some(made.as_str()), "{line}"),
                _ => continue,
            }
            found += 1;
        }
    }
    assert!(lines >= 3, "{}", app.log());
    assert_eq!(
        found,
        2,
        "both request lines carry their id:\n{}",
        app.log()
    );
}

#[tokio::test]
async fn a_bad_log_format_is_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--log-format", "yaml", "--data-dir"])
        .arg(temp_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--log-format") && err.contains("json"),
        "{err}"
    );
}
