//! `/openapi.json` is a valid OpenAPI 3.1 document, so generated clients and API
//! reference pages work: checked with `openapi-spec-validator` (PyPI). Without it
//! the validator test prints SKIPPED and passes, except under CI=true where it fails
//! (`.ci/run` installs it).

use std::collections::HashMap;
use std::process::Command;

use reqwest::Method;

use crate::helpers::*;

fn validator_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn the_openapi_document_passes_openapi_spec_validator() {
    if !validator_installed() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "openapi-spec-validator is required under CI=true (pip install openapi-spec-validator)"
            );
        }
        eprintln!(
            "SKIPPED: openapi-spec-validator not installed; /openapi.json was not validated \
             (pip install openapi-spec-validator)"
        );
        return;
    }
    let app = spawn_app().await;
    let r = app.req(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    let file = app.dir.join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&r.body).unwrap()).unwrap();
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--validation-errors", "all"])
        .arg(&file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openapi-spec-validator:\n{text}");
    assert!(text.contains(": OK"), "openapi-spec-validator:\n{text}");
}

/// What the validator does not check but clients rely on: unique operation ids,
/// path parameters that are in the path, a security scheme per way to authenticate.
#[tokio::test]
async fn the_openapi_document_has_unique_operations_and_says_how_to_authenticate() {
    let app = spawn_app().await;
    let doc = app.req(Method::GET, "/openapi.json", None, None).await.body;
    let mut ids: HashMap<String, String> = HashMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap().to_string();
            let here = format!("{method} {path}");
            if let Some(before) = ids.insert(id.clone(), here.clone()) {
                panic!("operationId {id} is used by {before} and {here}");
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                if p["in"] == "path" {
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{here}: {name} is not in the path"
                    );
                }
                if name == "limit" {
                    assert_eq!(p["in"], "query", "{here}");
                    assert_eq!(p["schema"]["minimum"], 1, "{here}");
                    assert_eq!(p["schema"]["maximum"], 200, "{here}");
                }
            }
            for (status, resp) in op["responses"].as_object().unwrap() {
                let d = resp["description"].as_str().unwrap_or("");
                assert!(!d.trim().is_empty(), "{here} {status} has no description");
            }
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["scheme"], "bearer");
    assert_eq!(schemes["client_id"]["in"], "header");
    assert_eq!(schemes["client_id"]["name"], "x-client-id");
    assert_eq!(schemes["api_key"]["name"], "x-api-key");
    assert_eq!(schemes["introspection"]["scheme"], "basic");
    let login = &doc["paths"]["/api/v1/authentication/login"]["post"]["security"][0];
    assert!(
        login.get("client_id").is_some() && login.get("api_key").is_some(),
        "{login}"
    );
    let introspect = &doc["paths"]["/oauth/introspect"]["post"]["security"][0];
    assert!(introspect.get("introspection").is_some(), "{introspect}");
}

/// `account_permissions.accounts` is a list of account ids or `"all"`, as the
/// API sends it; every answer below is also held against the document by
/// `TestApp::send` (`openapi_check`), statuses included.
#[tokio::test]
async fn answers_match_the_document_in_status_and_schema() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let doc = app.req(Method::GET, "/openapi.json", None, None).await.body;
    let accounts = &doc["components"]["schemas"]["AccountPermissionsDto"]["properties"]["accounts"];
    assert!(accounts["oneOf"].is_array(), "{accounts}");
    let base = format!("/dev/v1/orgs/{}", org.org_id);
    for accounts in [
        serde_json::json!([&org.accounts[0]]),
        serde_json::json!("all"),
    ] {
        let key = app
            .scoped_key(
                &org,
                serde_json::json!({"name": "k", "account_permissions": {"accounts": accounts,
                    "resources": perms(&[("balances", "read")])}}),
            )
            .await;
        let r = app
            .req(
                Method::GET,
                &format!("{base}/scoped-keys/{}", cid(&key)),
                Some(&org.owner),
                None,
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["account_permissions"]["accounts"], accounts);
    }
    // Statuses the routes give that the document once left out: no session
    // (401), a DELETE whose body is not JSON (400), and 429 after failed
    // password confirmations.
    let r = app
        .req(Method::GET, &format!("{base}/accounts"), None, None)
        .await;
    assert_eq!(r.status, 401);
    let key = app
        .scoped_key(
            &org,
            serde_json::json!({"name": "d", "org_permissions": perms(&[("billing_invoices", "read")])}),
        )
        .await;
    let r = app
        .send(
            app.http
                .delete(format!("{}{base}/scoped-keys/{}", app.base, cid(&key)))
                .bearer_auth(&org.owner.token)
                .header("content-type", "application/json")
                .body("{"),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_json"));
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = app
            .req(
                Method::DELETE,
                &format!("{base}/scoped-keys/{}", cid(&key)),
                Some(&org.owner),
                Some(serde_json::json!({"password": "wrong-password-123"})),
            )
            .await;
        statuses.push(r.status.as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

/// The check itself is not vacuous: a status the document does not declare,
/// and a body off its schema (`accounts` as an object), are refused.
#[tokio::test]
async fn the_response_check_refuses_undeclared_statuses_and_bodies_off_the_schema() {
    use crate::openapi_check::check;
    let app = spawn_app().await;
    let doc = app.req(Method::GET, "/openapi.json", None, None).await.body;
    let path = "/dev/v1/orgs/org_1/scoped-keys/cli_1";
    let err = check(&doc, "GET", path, 418, true, &serde_json::Value::Null).unwrap_err();
    assert!(err.contains("418 is not declared"), "{err}");
    let err = check(
        &doc,
        "GET",
        "/dev/v1/me",
        409,
        true,
        &serde_json::Value::Null,
    )
    .unwrap_err();
    assert!(err.contains("not declared"), "{err}");
    let key = |accounts: serde_json::Value| {
        serde_json::json!({
            "client_id": "cli_1", "kind": "scoped", "name": "k", "org_id": "org_1",
            "created_at": "2026-01-01T00:00:00Z",
            "account_permissions": {"accounts": accounts, "resources": []},
        })
    };
    let off = check(
        &doc,
        "GET",
        path,
        200,
        true,
        &key(serde_json::json!({"a": 1})),
    );
    assert!(
        off.as_ref().is_err_and(|e| e.contains("accounts")),
        "{off:?}"
    );
    let off = check(
        &doc,
        "GET",
        path,
        200,
        true,
        &key(serde_json::json!("some")),
    );
    assert!(off.is_err(), "{off:?}");
    // Pages and proxied calls are not the document's.
    assert!(
        check(
            &doc,
            "GET",
            "/app/keys",
            200,
            false,
            &serde_json::Value::Null
        )
        .is_ok()
    );
}
