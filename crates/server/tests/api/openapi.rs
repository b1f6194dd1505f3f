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

/// The routes `/openapi.json` documented when each route's path and method
/// came to be written once, in its `#[utoipa::path]` (routed by `routes!`,
/// documented from the same routers). None may go missing.
const DOCUMENTED: &[(&str, &str)] = &[
    ("GET", "/.well-known/jwks.json"),
    ("POST", "/api/v1/authentication/login"),
    ("GET", "/auth/envoy/{path}"),
    ("GET", "/auth/nginx"),
    ("GET", "/auth/traefik"),
    ("GET", "/auth/verify"),
    ("POST", "/dev/v1/invitations/accept"),
    ("GET", "/dev/v1/me"),
    ("POST", "/dev/v1/me/password"),
    ("GET", "/dev/v1/me/sessions"),
    ("DELETE", "/dev/v1/me/sessions/{session_id}"),
    ("DELETE", "/dev/v1/me/two-factor"),
    ("POST", "/dev/v1/me/two-factor"),
    ("POST", "/dev/v1/me/two-factor/confirm"),
    ("GET", "/dev/v1/orgs/{org_id}"),
    ("PATCH", "/dev/v1/orgs/{org_id}"),
    ("GET", "/dev/v1/orgs/{org_id}/accounts"),
    ("POST", "/dev/v1/orgs/{org_id}/accounts"),
    ("POST", "/dev/v1/orgs/{org_id}/admin-keys"),
    ("PATCH", "/dev/v1/orgs/{org_id}/admin-keys/{client_id}"),
    (
        "POST",
        "/dev/v1/orgs/{org_id}/admin-keys/{client_id}/regenerate",
    ),
    ("GET", "/dev/v1/orgs/{org_id}/api-keys"),
    ("GET", "/dev/v1/orgs/{org_id}/audit-events"),
    ("GET", "/dev/v1/orgs/{org_id}/deliveries"),
    (
        "POST",
        "/dev/v1/orgs/{org_id}/deliveries/{delivery_id}/redeliver",
    ),
    ("GET", "/dev/v1/orgs/{org_id}/invitations"),
    ("POST", "/dev/v1/orgs/{org_id}/invitations"),
    (
        "DELETE",
        "/dev/v1/orgs/{org_id}/invitations/{invitation_id}",
    ),
    ("GET", "/dev/v1/orgs/{org_id}/key-policy"),
    ("PATCH", "/dev/v1/orgs/{org_id}/key-policy"),
    ("GET", "/dev/v1/orgs/{org_id}/members"),
    ("DELETE", "/dev/v1/orgs/{org_id}/members/{user_id}"),
    ("PATCH", "/dev/v1/orgs/{org_id}/members/{user_id}"),
    ("GET", "/dev/v1/orgs/{org_id}/rate-limit"),
    ("PATCH", "/dev/v1/orgs/{org_id}/rate-limit"),
    ("POST", "/dev/v1/orgs/{org_id}/scoped-keys"),
    ("DELETE", "/dev/v1/orgs/{org_id}/scoped-keys/{client_id}"),
    ("GET", "/dev/v1/orgs/{org_id}/scoped-keys/{client_id}"),
    ("PATCH", "/dev/v1/orgs/{org_id}/scoped-keys/{client_id}"),
    (
        "POST",
        "/dev/v1/orgs/{org_id}/scoped-keys/{client_id}/duplicate",
    ),
    (
        "POST",
        "/dev/v1/orgs/{org_id}/scoped-keys/{client_id}/regenerate",
    ),
    ("GET", "/dev/v1/orgs/{org_id}/usage"),
    ("GET", "/dev/v1/orgs/{org_id}/webhooks"),
    ("POST", "/dev/v1/orgs/{org_id}/webhooks"),
    ("DELETE", "/dev/v1/orgs/{org_id}/webhooks/{webhook_id}"),
    ("PATCH", "/dev/v1/orgs/{org_id}/webhooks/{webhook_id}"),
    (
        "GET",
        "/dev/v1/orgs/{org_id}/webhooks/{webhook_id}/deliveries",
    ),
    ("POST", "/dev/v1/password-resets"),
    ("POST", "/dev/v1/password-resets/complete"),
    ("GET", "/dev/v1/resources"),
    ("POST", "/dev/v1/sessions"),
    ("DELETE", "/dev/v1/sessions/current"),
    ("POST", "/dev/v1/sessions/two-factor"),
    ("GET", "/healthz"),
    ("POST", "/oauth/introspect"),
    ("GET", "/readyz"),
    ("POST", "/secret-scanning/github"),
    ("GET", "/secret-scanning/gitlab/v1/revocable_token_types"),
    ("POST", "/secret-scanning/gitlab/v1/revoke_tokens"),
];

/// The concrete path of a documented one: every `{parameter}` filled in, and
/// Envoy's prefix given a path of several segments, as Envoy sends it.
fn concrete(template: &str) -> String {
    if template == "/auth/envoy/{path}" {
        return "/auth/envoy/api/v1/balances/current".to_owned();
    }
    template
        .split('/')
        .map(|s| if s.starts_with('{') { "x1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// The document and the router say the same: every documented method and path
/// is answered by its route (not the 404 of no route, not 405), every other
/// method on a documented path is 405 (forward-auth, which answers every
/// method, aside), and no route documented before is gone.
#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_server_answers() {
    let app = spawn_app().await;
    let doc = app.req(Method::GET, "/openapi.json", None, None).await.body;
    let mut listed = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            listed.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    for (method, path) in DOCUMENTED {
        assert!(
            listed.contains(&(method.to_string(), path.to_string())),
            "{method} {path} is no longer in /openapi.json"
        );
    }
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    for template in doc["paths"].as_object().unwrap().keys() {
        let path = concrete(template);
        for method in methods {
            let r = app
                .req(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &path,
                    None,
                    None,
                )
                .await;
            let no_route = r.status == 404
                && r.body["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("no route"));
            let wrong_method = r.status == 405 && r.code() == "method_not_allowed";
            if listed.contains(&(method.to_owned(), template.clone())) {
                assert!(
                    !no_route && !wrong_method,
                    "{method} {path} is documented but not routed: {} {}",
                    r.status,
                    r.body
                );
            } else if template.starts_with("/auth/") {
                assert!(!no_route, "{method} {path}: {} {}", r.status, r.body);
            } else {
                assert!(
                    wrong_method,
                    "{method} {path} is answered but not documented: {} {}",
                    r.status, r.body
                );
            }
        }
    }
}
