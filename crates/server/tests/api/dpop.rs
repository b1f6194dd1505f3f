//! DPoP (RFC 9449): tokens bound to the client's key pair, accepted only with
//! a fresh proof of each request by that key, at the gateway and at every
//! forward-auth endpoint. The proofs are made here with p256 (ES256) and
//! ed25519-dalek (EdDSA).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use keygate_core::crypto::{random_base62, random_bytes};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::gateway::gateway;
use crate::helpers::*;
use crate::oauth::{BALANCES, PAYMENT, call, machine_key, token_request};

/// A client's proof key.
pub enum ProofKey {
    Es(p256::ecdsa::SigningKey),
    Ed(ed25519_dalek::SigningKey),
}

impl ProofKey {
    pub fn es256() -> ProofKey {
        ProofKey::Es(p256::ecdsa::SigningKey::from_slice(&random_bytes::<32>()).unwrap())
    }

    pub fn ed25519() -> ProofKey {
        ProofKey::Ed(ed25519_dalek::SigningKey::from_bytes(&random_bytes()))
    }

    pub fn jwk(&self) -> Value {
        match self {
            ProofKey::Es(k) => {
                let p = k.verifying_key().to_sec1_point(false);
                let b = p.as_bytes();
                json!({"kty": "EC", "crv": "P-256", "x": B64.encode(&b[1..33]), "y": B64.encode(&b[33..65])})
            }
            ProofKey::Ed(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode(k.verifying_key().as_bytes())})
            }
        }
    }

    /// RFC 7638: the required members, in order, without whitespace.
    pub fn jkt(&self) -> String {
        let j = self.jwk();
        let canonical = match self {
            ProofKey::Es(_) => format!(
                r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#,
                j["x"], j["y"]
            ),
            ProofKey::Ed(_) => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":{}}}"#, j["x"]),
        };
        B64.encode(sha2::Sha256::digest(canonical.as_bytes()))
    }

    /// A proof of `htm` `htu`, with `ath` for `token`; `over` replaces claims.
    pub fn proof(&self, htm: &str, htu: &str, token: Option<&str>, over: Value) -> String {
        let mut claims = json!({"jti": random_base62(16), "htm": htm, "htu": htu,
                                "iat": now_secs()});
        if let Some(t) = token {
            claims["ath"] = B64.encode(sha2::Sha256::digest(t.as_bytes())).into();
        }
        for (k, v) in over.as_object().unwrap() {
            claims[k] = v.clone();
        }
        self.sign_with(&self.jwk(), &claims)
    }

    /// Signs with this key whatever `jwk` the header names.
    pub fn sign_with(&self, jwk: &Value, claims: &Value) -> String {
        let alg = match self {
            ProofKey::Es(_) => "ES256",
            ProofKey::Ed(_) => "EdDSA",
        };
        let header = json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk});
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = match self {
            ProofKey::Es(k) => {
                use p256::ecdsa::signature::Signer as _;
                let s: p256::ecdsa::Signature = k.sign(input.as_bytes());
                s.to_bytes().to_vec()
            }
            ProofKey::Ed(k) => {
                use ed25519_dalek::Signer as _;
                k.sign(input.as_bytes()).to_bytes().to_vec()
            }
        };
        format!("{input}.{}", B64.encode(sig))
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

fn dpop_challenge(r: &Resp) -> String {
    r.headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

const CC: (&str, &str) = ("grant_type", "client_credentials");

#[tokio::test]
async fn a_bound_token_works_at_the_gateway_only_with_a_fresh_proof_of_the_request() {
    let g = gateway(&["--introspection-secret", INTROSPECTION_SECRET]).await;
    let (app, key, client) = (&g.app, machine_key(&g, json!({})).await, ProofKey::es256());
    let token_url = format!("{}/oauth/token", app.base);
    let basic = Some((cid(&key), secret(&key)));

    let wrong = client.proof(
        "POST",
        &format!("{}/api/v1/authentication/login", app.base),
        None,
        json!({}),
    );
    let r = token_request(app, &[CC], basic, Some(&wrong)).await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );

    let r = token_request(
        app,
        &[CC],
        basic,
        Some(&client.proof("POST", &token_url, None, json!({}))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["token_type"], "DPoP");
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token)["cnf"]["jkt"], client.jkt());

    let url = format!("{}{BALANCES}", app.base);
    let auth = format!("DPoP {token}");
    let first = client.proof("GET", &url, Some(&token), json!({}));
    let r = call(app, Method::GET, BALANCES, &auth, Some(&first)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["headers"]["x-keygate-client-id"], cid(&key));
    assert_eq!(r.body["headers"]["x-keygate-dpop-jkt"], client.jkt());

    // The same token as Bearer, even with a good proof beside it.
    let fresh = client.proof("GET", &url, Some(&token), json!({}));
    let r = call(
        app,
        Method::GET,
        BALANCES,
        &format!("Bearer {token}"),
        Some(&fresh),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = call(app, Method::GET, BALANCES, &auth, None).await;
    assert_eq!(r.status, 401);
    assert!(
        dpop_challenge(&r).starts_with("DPoP"),
        "{}",
        dpop_challenge(&r)
    );

    let other = ProofKey::es256();
    let refused = [
        ("replayed", first.clone()),
        (
            "stale",
            client.proof("GET", &url, Some(&token), json!({"iat": now_secs() - 300})),
        ),
        (
            "wrong htm",
            client.proof("POST", &url, Some(&token), json!({})),
        ),
        (
            "wrong htu",
            client.proof(
                "GET",
                &format!("{}/api/v1/balances/history", app.base),
                Some(&token),
                json!({}),
            ),
        ),
        (
            "other host",
            client.proof(
                "GET",
                &format!("http://api.example.com{BALANCES}"),
                Some(&token),
                json!({}),
            ),
        ),
        (
            "wrong ath",
            client.proof("GET", &url, Some("another-token"), json!({})),
        ),
        (
            "other key",
            other.proof("GET", &url, Some(&token), json!({})),
        ),
        (
            "forged",
            other.sign_with(
                &client.jwk(),
                &json!({"jti": "x", "htm": "GET", "htu": url, "iat": now_secs()}),
            ),
        ),
    ];
    for (what, proof) in refused {
        let r = call(app, Method::GET, BALANCES, &auth, Some(&proof)).await;
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        let c = dpop_challenge(&r);
        assert!(
            c.starts_with("DPoP") && c.contains("error=\"invalid_dpop_proof\""),
            "{what}: {c}"
        );
    }
    let with_query = client.proof("GET", &url, Some(&token), json!({}));
    let r = call(
        app,
        Method::GET,
        &format!("{BALANCES}?currency=USD"),
        &auth,
        Some(&with_query),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = introspect(app, &token).await;
    assert_eq!(r["token_type"], "DPoP");
    assert_eq!(r["cnf"]["jkt"], client.jkt());
}

async fn introspect(app: &TestApp, token: &str) -> Value {
    let r = app
        .send(
            app.http
                .post(format!("{}/oauth/introspect", app.base))
                .basic_auth("gw", Some(INTROSPECTION_SECRET))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string([("token", token)]).unwrap()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

const INTROSPECTION_SECRET: &str = "introspection-secret-0123456789abcdef";

#[tokio::test]
async fn every_forward_auth_endpoint_checks_the_proof_against_the_original_request() {
    let g = gateway(&["--introspection-secret", INTROSPECTION_SECRET]).await;
    let (app, key, client) = (
        &g.app,
        machine_key(&g, json!({})).await,
        ProofKey::ed25519(),
    );
    // An EdDSA proof at login binds the login's token.
    let login_url = format!("{}/api/v1/authentication/login", app.base);
    let r = app
        .send(
            app.http
                .post(&login_url)
                .header("x-client-id", cid(&key))
                .header("x-api-key", secret(&key))
                .header("dpop", client.proof("POST", &login_url, None, json!({}))),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["token_type"], "DPoP");
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(app, &token).await["cnf"]["jkt"], client.jkt());
    let auth = format!("DPoP {token}");

    let ask = |path: &str, method: &str, uri: &str, proof: Option<String>, scheme: &str| {
        let mut rb = app
            .http
            .get(format!("{}{path}", app.base))
            .header("authorization", format!("{scheme} {token}"));
        rb = match path {
            "/auth/traefik" => rb
                .header("x-forwarded-method", method)
                .header("x-forwarded-uri", uri),
            _ => rb
                .header("x-original-method", method)
                .header("x-original-uri", uri),
        };
        if let Some(p) = proof {
            rb = rb.header("dpop", p);
        }
        app.send(rb)
    };
    let url = |p: &str| format!("{}{p}", app.base);
    for path in ["/auth/verify", "/auth/nginx", "/auth/traefik"] {
        let p = client.proof("GET", &url(BALANCES), Some(&token), json!({}));
        let r = ask(
            path,
            "GET",
            &format!("{BALANCES}?currency=USD"),
            Some(p),
            "DPoP",
        )
        .await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.headers["x-keygate-dpop-jkt"], client.jkt().as_str());
        let p = client.proof("POST", &url(PAYMENT), Some(&token), json!({}));
        assert_eq!(
            ask(path, "POST", PAYMENT, Some(p), "DPoP").await.status,
            200,
            "{path}"
        );
        // The forward-auth request's own method and URI are not the original's.
        let p = client.proof("GET", &url(PAYMENT), Some(&token), json!({}));
        assert_eq!(
            ask(path, "POST", PAYMENT, Some(p), "DPoP").await.status,
            401,
            "{path}"
        );
        let p = client.proof("GET", &url(path), Some(&token), json!({}));
        assert_eq!(
            ask(path, "GET", BALANCES, Some(p), "DPoP").await.status,
            401,
            "{path}"
        );
        assert_eq!(
            ask(path, "GET", BALANCES, None, "Bearer").await.status,
            401,
            "{path}"
        );
    }
    // Envoy: the original request is this one's method and path after the prefix.
    let p = client.proof("GET", &url(BALANCES), Some(&token), json!({}));
    let r = call(
        app,
        Method::GET,
        &format!("/auth/envoy{BALANCES}"),
        &auth,
        Some(&p),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = client.proof(
        "GET",
        &url(&format!("/auth/envoy{BALANCES}")),
        Some(&token),
        json!({}),
    );
    let r = call(
        app,
        Method::GET,
        &format!("/auth/envoy{BALANCES}"),
        &auth,
        Some(&p),
    )
    .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_key_with_require_dpop_issues_only_bound_tokens() {
    let g = gateway(&[]).await;
    let (app, client) = (&g.app, ProofKey::es256());
    let key = machine_key(&g, json!({"require_dpop": true})).await;
    assert_eq!(key["require_dpop"], true);
    let basic = Some((cid(&key), secret(&key)));
    let r = token_request(app, &[CC], basic, None).await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    assert_eq!(app.login(cid(&key), secret(&key), None).await.status, 401);
    let token_url = format!("{}/oauth/token", app.base);
    let r = token_request(
        app,
        &[CC],
        basic,
        Some(&client.proof("POST", &token_url, None, json!({}))),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.body["token_type"].as_str()),
        (200, Some("DPoP"))
    );

    // Turned off by an edit, on again by a duplicate's choice.
    let r = app
        .req(
            Method::PATCH,
            &format!("/dev/v1/orgs/{}/scoped-keys/{}", g.org.org_id, cid(&key)),
            Some(&g.org.owner),
            Some(json!({"require_dpop": false, "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), &r.body["require_dpop"]),
        (200, &json!(false))
    );
    assert_eq!(app.login(cid(&key), secret(&key), None).await.status, 201);
    let r = app
        .req(
            Method::POST,
            &format!(
                "/dev/v1/orgs/{}/scoped-keys/{}/duplicate",
                g.org.org_id,
                cid(&key)
            ),
            Some(&g.org.owner),
            Some(json!({"require_dpop": true, "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), &r.body["require_dpop"]),
        (201, &json!(true))
    );
}

#[tokio::test]
async fn with_redis_a_proof_used_on_one_instance_is_refused_on_another() {
    let test = "dpop: a replay across instances";
    let Some(redis) = crate::rate_limits::Redis::start(test).await else {
        return;
    };
    let url = format!("redis://127.0.0.1:{}", redis.port);
    // One public origin for the three, as behind a load balancer.
    let origin = "https://keygate.example.com";
    let args = ["--redis-url", url.as_str(), "--public-url", origin];
    let Some((apps, _dir)) = crate::multi::cluster(test, &args).await else {
        return;
    };
    let (a, b) = (&apps[0], &apps[1]);
    let org = a.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = a
        .scoped_key(
            &org,
            json!({"name": "m", "account_permissions": {"accounts": [&org.accounts[0]],
            "resources": perms(&[("balances", "read")])}}),
        )
        .await;
    let client = ProofKey::es256();
    let p = client.proof("POST", &format!("{origin}/oauth/token"), None, json!({}));
    let r = token_request(a, &[CC], Some((cid(&key), secret(&key))), Some(&p)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    let htu = format!("{origin}{BALANCES}");
    let once = client.proof("GET", &htu, Some(&token), json!({}));
    assert_eq!(forward_auth(a, &token, &once).await.status, 200);
    let again = forward_auth(b, &token, &once).await;
    assert_eq!(again.status, 401, "replayed on another instance");
    let fresh = client.proof("GET", &htu, Some(&token), json!({}));
    assert_eq!(forward_auth(b, &token, &fresh).await.status, 200);
}

async fn forward_auth(app: &TestApp, token: &str, proof: &str) -> Resp {
    app.send(
        app.http
            .get(format!("{}/auth/verify", app.base))
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .header("x-original-method", "GET")
            .header("x-original-uri", BALANCES),
    )
    .await
}
