//! Workload identity federation (RFC 8693 token exchange) against a real
//! OIDC issuer run by the test on 127.0.0.1: its discovery document and JWKS
//! served over HTTP (hence `--allow-insecure-issuers`), its tokens signed here
//! with RS256 (aws-lc-rs) and ES256 (p256) keys made for the test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use keygate_core::crypto::{random_base62, random_bytes};
use reqwest::Method;
use serde_json::{Value, json};

use crate::dpop::ProofKey;
use crate::gateway::{Gateway, gateway};
use crate::helpers::*;
use crate::oauth::{BALANCES, call, machine_key, token_request};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const AUDIENCE: &str = "https://keygate.test";
const SUBJECT_RULE: &str = "repo:acme/app:ref:refs/heads/*";
const SUBJECT: &str = "repo:acme/app:ref:refs/heads/main";

/// A signing key of the issuer.
enum IssuerKey {
    Rs(RsaKeyPair),
    Es(p256::ecdsa::SigningKey),
}

impl IssuerKey {
    fn rs256() -> IssuerKey {
        IssuerKey::Rs(RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }

    fn es256() -> IssuerKey {
        IssuerKey::Es(p256::ecdsa::SigningKey::from_slice(&random_bytes::<32>()).unwrap())
    }

    fn alg(&self) -> &'static str {
        match self {
            IssuerKey::Rs(_) => "RS256",
            IssuerKey::Es(_) => "ES256",
        }
    }

    /// The public key as the JWKS publishes it.
    fn jwk(&self, kid: &str) -> Value {
        match self {
            IssuerKey::Rs(k) => {
                let (n, e) = rsa_public_key(k.public_key().as_ref());
                json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                       "n": B64.encode(n), "e": B64.encode(e)})
            }
            IssuerKey::Es(k) => {
                let p = k.verifying_key().to_sec1_point(false);
                let b = p.as_bytes();
                json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                       "x": B64.encode(&b[1..33]), "y": B64.encode(&b[33..65])})
            }
        }
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = match self {
            IssuerKey::Rs(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input.as_bytes(),
                    &mut sig,
                )
                .unwrap();
                sig
            }
            IssuerKey::Es(k) => {
                use p256::ecdsa::signature::Signer as _;
                let s: p256::ecdsa::Signature = k.sign(input.as_bytes());
                s.to_bytes().to_vec()
            }
        };
        format!("{input}.{}", B64.encode(sig))
    }
}

/// `n` and `e` of a DER `RSAPublicKey` (RFC 8017): a SEQUENCE of two
/// INTEGERs, without their sign bytes.
fn rsa_public_key(der: &[u8]) -> (&[u8], &[u8]) {
    fn item(b: &[u8]) -> (&[u8], &[u8]) {
        let (len, header) = if b[1] < 0x80 {
            (b[1] as usize, 2)
        } else {
            let n = (b[1] & 0x7f) as usize;
            let len = b[2..2 + n].iter().fold(0, |l, x| l << 8 | *x as usize);
            (len, 2 + n)
        };
        (&b[header..header + len], &b[header + len..])
    }
    let (seq, _) = item(der);
    let (n, rest) = item(seq);
    let (e, _) = item(rest);
    let unsigned = |x: &[u8]| -> usize { x.iter().take_while(|b| **b == 0).count() };
    (&n[unsigned(n)..], &e[unsigned(e)..])
}

/// An OIDC issuer on loopback: discovery and JWKS, with the keys it
/// publishes now; it counts how often its JWKS is read.
struct Issuer {
    url: String,
    published: Arc<Mutex<Vec<Value>>>,
    jwks_reads: Arc<AtomicUsize>,
}

impl Issuer {
    async fn start() -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let published: Arc<Mutex<Vec<Value>>> = Arc::default();
        let jwks_reads: Arc<AtomicUsize> = Arc::default();
        let discovery = json!({"issuer": url, "jwks_uri": format!("{url}/keys"),
                               "id_token_signing_alg_values_supported": ["RS256", "ES256"]});
        let (keys, reads) = (published.clone(), jwks_reads.clone());
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(discovery) }),
            )
            .route(
                "/keys",
                axum::routing::get(move || async move {
                    reads.fetch_add(1, Ordering::SeqCst);
                    let keys = keys.lock().unwrap().clone();
                    axum::Json(json!({ "keys": keys }))
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Issuer {
            url,
            published,
            jwks_reads,
        }
    }

    fn publish(&self, key: &IssuerKey, kid: &str) {
        self.published.lock().unwrap().push(key.jwk(kid));
    }

    fn reads(&self) -> usize {
        self.jwks_reads.load(Ordering::SeqCst)
    }

    /// A token of this issuer signed by `key` under `kid`; `over` replaces claims.
    fn token(&self, key: &IssuerKey, kid: &str, over: Value) -> String {
        let now = now_secs();
        let mut claims = json!({"iss": self.url, "aud": AUDIENCE, "sub": SUBJECT,
            "iat": now, "nbf": now - 5, "exp": now + 300, "jti": random_base62(12)});
        for (k, v) in over.as_object().unwrap() {
            claims[k] = v.clone();
        }
        key.sign(
            &json!({"alg": key.alg(), "typ": "JWT", "kid": kid}),
            &claims,
        )
    }

    fn rule(&self, subject: &str) -> Value {
        json!({"issuer": self.url, "audience": AUDIENCE, "subject": subject})
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn exchange(app: &TestApp, client_id: &str, token: &str, dpop: Option<&str>) -> Resp {
    let form = [
        ("grant_type", EXCHANGE),
        ("client_id", client_id),
        ("subject_token", token),
        ("subject_token_type", JWT_TYPE),
    ];
    token_request(app, &form, None, dpop).await
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

/// A gateway with insecure issuers allowed, an issuer with an RS256 key `k1`
/// and an ES256 key `ec1`, and a key whose one rule takes the issuer's
/// `refs/heads/*` subjects.
async fn federated() -> (Gateway, Issuer, IssuerKey, IssuerKey, Value) {
    let g = gateway(&["--allow-insecure-issuers"]).await;
    let issuer = Issuer::start().await;
    let (rs, es) = (IssuerKey::rs256(), IssuerKey::es256());
    issuer.publish(&rs, "k1");
    issuer.publish(&es, "ec1");
    let key = machine_key(&g, json!({"federation": [issuer.rule(SUBJECT_RULE)]})).await;
    (g, issuer, rs, es, key)
}

fn refused(r: &Resp, why: &str) {
    assert_eq!(
        (r.status.as_u16(), r.body["error"].as_str()),
        (400, Some("invalid_request")),
        "{why}: {}",
        r.body
    );
}

#[tokio::test]
async fn a_ci_token_is_exchanged_for_the_keys_token_which_works_at_the_gateway_and_forward_auth() {
    let (g, issuer, rs, es, key) = federated().await;
    let app = &g.app;
    assert_eq!(key["federation"][0]["subject"], SUBJECT_RULE);

    let r = exchange(app, cid(&key), &issuer.token(&rs, "k1", json!({})), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(r.body["token_type"], "Bearer");
    assert!(r.body["expires_in"].as_i64().unwrap() > 0);
    assert!(
        r.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token)["sub"], cid(&key));

    let through = call(app, Method::GET, BALANCES, &format!("Bearer {token}"), None).await;
    assert_eq!(through.status, 200, "{}", through.body);
    assert_eq!(through.body["headers"]["x-keygate-client-id"], cid(&key));
    let fa = app
        .send(
            app.http
                .get(format!("{}/auth/nginx", app.base))
                .bearer_auth(&token)
                .header("x-original-method", "GET")
                .header("x-original-uri", BALANCES),
        )
        .await;
    assert_eq!(fa.status, 200, "{}", fa.body);

    // ES256 tokens of the same issuer, and a DPoP-bound exchange.
    let r = exchange(app, cid(&key), &issuer.token(&es, "ec1", json!({})), None).await;
    assert_eq!(r.status, 200, "ES256: {}", r.body);
    let pk = ProofKey::es256();
    let proof = pk.proof(
        "POST",
        &format!("{}/oauth/token", app.base),
        None,
        json!({}),
    );
    let r = exchange(
        app,
        cid(&key),
        &issuer.token(&rs, "k1", json!({})),
        Some(&proof),
    )
    .await;
    assert_eq!(r.status, 200, "DPoP: {}", r.body);
    assert_eq!(r.body["token_type"], "DPoP");
    let bound = r.body["access_token"].as_str().unwrap();
    assert_eq!(claims(bound)["cnf"]["jkt"], pk.jkt());
    // Read once, for all of them.
    assert_eq!(issuer.reads(), 1);

    // The audit log names the outside identity.
    let query = format!("client_id={}", cid(&key));
    let event = eventually(
        "a login.federated event",
        Duration::from_secs(5),
        async || {
            let events = app.audit_events(&g.org, &query).await;
            let found = events.iter().find(|e| e["action"] == "login.federated");
            found
                .cloned()
                .ok_or_else(|| format!("{} other events", events.len()))
        },
    )
    .await;
    assert_eq!(event["details"]["issuer"], issuer.url);
    assert_eq!(event["details"]["subject"], SUBJECT);

    let meta = app
        .req(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            None,
            None,
        )
        .await;
    assert!(
        meta.body["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(EXCHANGE))
    );
}

#[tokio::test]
async fn every_reason_to_refuse_a_subject_token_is_a_400_invalid_request() {
    let (g, issuer, rs, _, key) = federated().await;
    let app = &g.app;
    let stranger = Issuer::start().await;
    let stranger_key = IssuerKey::rs256();
    stranger.publish(&stranger_key, "k1");
    let forger = IssuerKey::rs256();
    let no_rules = machine_key(&g, json!({})).await;
    let now = now_secs();
    let none_alg = format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none", "kid": "k1"}).to_string()),
        B64.encode(
            json!({"iss": issuer.url, "aud": AUDIENCE, "sub": SUBJECT, "exp": now + 60})
                .to_string()
        )
    );
    let cases = [
        (
            "a subject outside the prefix",
            issuer.token(&rs, "k1", json!({"sub": "repo:acme/app:pull_request"})),
        ),
        (
            "another repository sharing the prefix's start",
            issuer.token(
                &rs,
                "k1",
                json!({"sub": "repo:acme/apps:ref:refs/heads/main"}),
            ),
        ),
        (
            "a wrong audience",
            issuer.token(&rs, "k1", json!({"aud": "someone-else"})),
        ),
        (
            "expired an hour ago",
            issuer.token(
                &rs,
                "k1",
                json!({"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}),
            ),
        ),
        (
            "nbf an hour ahead",
            issuer.token(&rs, "k1", json!({"nbf": now + 3600, "exp": now + 7200})),
        ),
        (
            "signed by another key under k1",
            issuer.token(&forger, "k1", json!({})),
        ),
        ("alg none", none_alg),
        (
            "another issuer",
            stranger.token(&stranger_key, "k1", json!({})),
        ),
        ("not a JWT", "not-a-jwt".to_owned()),
    ];
    for (why, token) in &cases {
        let r = exchange(app, cid(&key), token, None).await;
        refused(&r, why);
        let text = r.body.to_string();
        assert!(
            !text.contains(token.as_str()) && !text.contains(&issuer.url),
            "{why}: {text}"
        );
    }
    // The right token for a key without rules, or for no key: refused alike.
    let good = issuer.token(&rs, "k1", json!({}));
    let a = exchange(app, cid(&no_rules), &good, None).await;
    let b = exchange(app, "3f9c2e0a-0000-4000-8000-000000000000", &good, None).await;
    refused(&a, "a key without rules");
    refused(&b, "an unknown client id");
    assert_eq!(a.body, b.body);
    // The stranger issuer was never read: no rule names it.
    assert_eq!(stranger.reads(), 0);
    // The wrong subject_token_type.
    let form = [
        ("grant_type", EXCHANGE),
        ("client_id", cid(&key)),
        ("subject_token", good.as_str()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
    ];
    refused(
        &token_request(app, &form, None, None).await,
        "subject_token_type",
    );
    // And the right one still works after all that.
    assert_eq!(exchange(app, cid(&key), &good, None).await.status, 200);
}

#[tokio::test]
async fn a_new_kid_is_read_at_once_but_unknown_kids_read_the_jwks_at_most_once_a_minute() {
    let (g, issuer, rs, _, key) = federated().await;
    let app = &g.app;
    assert_eq!(
        exchange(app, cid(&key), &issuer.token(&rs, "k1", json!({})), None)
            .await
            .status,
        200
    );
    assert_eq!(issuer.reads(), 1);

    // The issuer rotates: its new key's first token makes Keygate read again.
    let k2 = IssuerKey::rs256();
    issuer.publish(&k2, "k2");
    let r = exchange(app, cid(&key), &issuer.token(&k2, "k2", json!({})), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(issuer.reads(), 2);
    assert_eq!(
        exchange(app, cid(&key), &issuer.token(&k2, "k2", json!({})), None)
            .await
            .status,
        200
    );

    // Made-up kids within the minute: refused, and the JWKS is not read.
    for i in 0..3 {
        let r = exchange(
            app,
            cid(&key),
            &issuer.token(&rs, &format!("unknown-{i}"), json!({})),
            None,
        )
        .await;
        refused(&r, "an unknown kid");
    }
    assert_eq!(issuer.reads(), 2);
    // A key published now is not seen until the minute has passed.
    let k3 = IssuerKey::es256();
    issuer.publish(&k3, "k3");
    refused(
        &exchange(app, cid(&key), &issuer.token(&k3, "k3", json!({})), None).await,
        "a new kid within the minute",
    );
    app.advance_clock(Duration::from_secs(61)).await;
    let r = exchange(app, cid(&key), &issuer.token(&k3, "k3", json!({})), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(issuer.reads(), 3);
}

mod rules;
