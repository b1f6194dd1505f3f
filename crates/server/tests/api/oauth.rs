//! `POST /oauth/token` (OAuth 2.0 client credentials, RFC 6749 §4.4) and the
//! authorization server's metadata (RFC 8414): a standard client gets the
//! login's token without Keygate's own headers.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::gateway::{Gateway, gateway};
use crate::helpers::*;

pub const BALANCES: &str = "/api/v1/balances/current";
pub const PAYMENT: &str = "/api/v1/pa/payment_intents/create";

/// A key that reads balances and writes payment intents in account 0.
pub async fn machine_key(g: &Gateway, extra: Value) -> Value {
    let mut body = json!({"name": "machine", "account_permissions": {
        "accounts": [&g.org.accounts[0]],
        "resources": perms(&[("balances", "read"), ("payment_intents", "write")])}});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    g.app.scoped_key(&g.org, body).await
}

/// `POST /oauth/token` with a form, and optionally the key in HTTP Basic and
/// a DPoP proof.
pub async fn token_request(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
    dpop: Option<&str>,
) -> Resp {
    let mut rb = app
        .http
        .post(format!("{}/oauth/token", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap());
    if let Some((id, secret)) = basic {
        let pair = format!("{id}:{secret}");
        let b = base64::engine::general_purpose::STANDARD.encode(pair);
        rb = rb.header("authorization", format!("Basic {b}"));
    }
    if let Some(p) = dpop {
        rb = rb.header("dpop", p);
    }
    app.send(rb).await
}

pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: &str,
    dpop: Option<&str>,
) -> Resp {
    let mut rb = app
        .http
        .request(method, format!("{}{path}", app.base))
        .header("authorization", auth);
    if let Some(p) = dpop {
        rb = rb.header("dpop", p);
    }
    app.send(rb).await
}

const CC: (&str, &str) = ("grant_type", "client_credentials");

fn no_store(r: &Resp) -> bool {
    r.headers
        .get("cache-control")
        .is_some_and(|v| v.to_str().unwrap().contains("no-store"))
}

#[tokio::test]
async fn client_credentials_in_basic_or_in_the_form_give_a_token_the_gateway_takes() {
    let g = gateway(&[]).await;
    let key = machine_key(&g, json!({})).await;
    let r = token_request(&g.app, &[CC], Some((cid(&key), secret(&key))), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(no_store(&r));
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["scope"], "balances:read payment_intents:write");
    assert!(r.body["expires_in"].as_i64().unwrap() > 0);
    let token = r.body["access_token"].as_str().unwrap();
    let through = call(
        &g.app,
        Method::GET,
        BALANCES,
        &format!("Bearer {token}"),
        None,
    )
    .await;
    assert_eq!(through.status, 200, "{}", through.body);
    assert_eq!(through.body["headers"]["x-keygate-client-id"], cid(&key));

    let form = [
        CC,
        ("client_id", cid(&key)),
        ("client_secret", secret(&key)),
    ];
    let r = token_request(&g.app, &form, None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.body["access_token"].as_str().unwrap();
    let through = call(
        &g.app,
        Method::GET,
        BALANCES,
        &format!("Bearer {token}"),
        None,
    )
    .await;
    assert_eq!(through.status, 200);
}

#[tokio::test]
async fn bad_clients_and_bad_requests_get_rfc_6749_errors() {
    let g = gateway(&[]).await;
    let key = machine_key(&g, json!({})).await;
    let other = machine_key(&g, json!({"name": "other"})).await;
    for basic in [(cid(&key), secret(&other)), ("nobody", secret(&key))] {
        let r = token_request(&g.app, &[CC], Some(basic), None).await;
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(r.body["error"], "invalid_client");
        assert!(r.body["error_description"].is_string());
        assert!(no_store(&r));
        let challenge = r.headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Basic"), "{challenge}");
    }
    let form = [
        CC,
        ("client_id", cid(&key)),
        ("client_secret", secret(&other)),
    ];
    let r = token_request(&g.app, &form, None, None).await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let basic = Some((cid(&key), secret(&key)));
    let r = token_request(&g.app, &[("grant_type", "password")], basic, None).await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let r = g
        .app
        .send(
            g.app
                .http
                .post(format!("{}/oauth/token", g.app.base))
                .json(&json!({"grant_type": "client_credentials"})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_narrowed_scope_is_honoured_at_the_gateway_and_a_wider_one_refused() {
    let g = gateway(&[]).await;
    let key = machine_key(&g, json!({})).await;
    let basic = Some((cid(&key), secret(&key)));
    let r = token_request(
        &g.app,
        &[CC, ("scope", "balances:read refunds:write")],
        basic,
        None,
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let r = token_request(
        &g.app,
        &[CC, ("scope", "payment_intents:write")],
        basic,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let bearer = format!("Bearer {}", r.body["access_token"].as_str().unwrap());

    let r = token_request(&g.app, &[CC, ("scope", "balances:read")], basic, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scope"], "balances:read");
    let narrowed = format!("Bearer {}", r.body["access_token"].as_str().unwrap());
    assert_eq!(
        call(&g.app, Method::GET, BALANCES, &narrowed, None)
            .await
            .status,
        200
    );
    assert_eq!(
        call(&g.app, Method::POST, PAYMENT, &narrowed, None)
            .await
            .status,
        403
    );
    // The other narrowed token may write payment intents but not read balances.
    assert_eq!(
        call(&g.app, Method::POST, PAYMENT, &bearer, None)
            .await
            .status,
        200
    );
    assert_eq!(
        call(&g.app, Method::GET, BALANCES, &bearer, None)
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn account_id_follows_the_login_as_rules() {
    let g = gateway(&[]).await;
    let key = machine_key(&g, json!({})).await;
    let basic = Some((cid(&key), secret(&key)));
    let r = token_request(
        &g.app,
        &[CC, ("account_id", &g.org.accounts[1])],
        basic,
        None,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.get("access_token").is_none());
    let r = token_request(
        &g.app,
        &[CC, ("account_id", &g.org.accounts[0])],
        basic,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let bearer = format!("Bearer {}", r.body["access_token"].as_str().unwrap());
    let through = call(&g.app, Method::GET, BALANCES, &bearer, None).await;
    assert_eq!(
        through.body["headers"]["x-keygate-account-id"],
        g.org.accounts[0]
    );
}

#[tokio::test]
async fn the_metadata_document_names_the_endpoints_and_what_they_take() {
    let app = spawn_app().await;
    let r = app
        .req(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["issuer"], app.base);
    assert_eq!(
        r.body["token_endpoint"],
        format!("{}/oauth/token", app.base)
    );
    assert_eq!(
        r.body["introspection_endpoint"],
        format!("{}/oauth/introspect", app.base)
    );
    assert_eq!(
        r.body["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.base)
    );
    assert_eq!(
        r.body["grant_types_supported"],
        json!([
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(
        r.body["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        r.body["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA"])
    );
}

/// A real OAuth client: Python's Authlib (`pip install authlib requests`)
/// reads the metadata, gets a token with client_secret_basic and with
/// client_secret_post, and calls the gateway with each.
const AUTHLIB_CLIENT: &str = r#"
import json, sys
import requests
from authlib.integrations.requests_client import OAuth2Session
base, client_id, secret, path = sys.argv[1:5]
meta = requests.get(base + "/.well-known/oauth-authorization-server").json()
out = {}
for method in ("client_secret_basic", "client_secret_post"):
    s = OAuth2Session(client_id, secret, token_endpoint_auth_method=method, scope="balances:read")
    token = s.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    r = s.get(base + path)
    out[method] = {"token_type": token["token_type"], "scope": token.get("scope"), "status": r.status_code,
                   "client_id": r.json()["headers"].get("x-keygate-client-id")}
print(json.dumps(out))
"#;

fn authlib_installed() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import authlib, requests"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn an_authlib_client_gets_tokens_both_ways_and_calls_the_gateway() {
    if !authlib_installed() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("Authlib is required under CI=true (pip install authlib requests)");
        }
        eprintln!(
            "SKIPPED: Authlib not installed; no real OAuth client was tried (pip install authlib requests)"
        );
        return;
    }
    let g = gateway(&[]).await;
    let key = machine_key(&g, json!({})).await;
    // The gateway's echo upstream runs on this test's runtime: wait without blocking it.
    let out = tokio::process::Command::new("python3")
        .args([
            "-c",
            AUTHLIB_CLIENT,
            &g.app.base,
            cid(&key),
            secret(&key),
            BALANCES,
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "authlib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    for method in ["client_secret_basic", "client_secret_post"] {
        let r = &got[method];
        assert_eq!(r["token_type"], "Bearer", "{method}: {r}");
        assert_eq!(r["scope"], "balances:read", "{method}: {r}");
        assert_eq!(r["status"], 200, "{method}: {r}");
        assert_eq!(r["client_id"], cid(&key), "{method}: {r}");
    }
}
