//! Three `keygate` processes on one PostgreSQL database, as behind a load
//! balancer: a change made through one instance bites on the others.
//! Skipped loudly without PostgreSQL, except with `CI=true`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// Figures go straight to stderr, so they show even when the test passes
/// (the harness hides `eprintln!` of passing tests).
macro_rules! loud {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// Three instances sharing one fresh database and one data dir (so one pepper
/// and one set of signing keys). Started one after another: the first one
/// creates the schema and the secrets.
pub(crate) async fn cluster(test: &str, args: &[&str]) -> Option<(Vec<TestApp>, Dir)> {
    let db = PgDb::create(test).await?;
    let dir = Dir(temp_dir());
    let apps = (0..3)
        .map(|_| spawn_process(&dir.0, Some(db.clone()), args, &[]))
        .collect();
    Some((apps, dir))
}

/// Removes the shared dir after the instances are gone.
pub(crate) struct Dir(std::path::PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn balances_key(app: &TestApp, org: &Org) -> Value {
    app.scoped_key(
        org,
        json!({"name": "balances", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}),
    )
    .await
}

async fn regenerate(app: &TestApp, org: &Org, client_id: &str) -> Resp {
    app.req(
        Method::POST,
        &format!(
            "/dev/v1/orgs/{}/scoped-keys/{client_id}/regenerate",
            org.org_id
        ),
        Some(&org.owner),
        Some(json!({"password": PASSWORD})),
    )
    .await
}

/// Polls until `holds` is true on every app, or `limit` passes; returns the time it took.
async fn time_until(apps: &[&TestApp], limit: Duration, holds: impl AsyncCheck) -> Duration {
    let start = Instant::now();
    let mut pending: Vec<&TestApp> = apps.to_vec();
    while !pending.is_empty() && start.elapsed() < limit {
        let mut still = Vec::new();
        for app in pending {
            if !holds.check(app).await {
                still.push(app);
            }
        }
        pending = still;
        if !pending.is_empty() {
            // A fine look: the time it took is the figure.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert!(
        pending.is_empty(),
        "not so on every instance after {limit:?}"
    );
    start.elapsed()
}

trait AsyncCheck {
    async fn check(&self, app: &TestApp) -> bool;
}

struct LoginRefused<'a>(&'a str, &'a str);

impl AsyncCheck for LoginRefused<'_> {
    async fn check(&self, app: &TestApp) -> bool {
        app.login(self.0, self.1, None).await.status == 401
    }
}

struct LoginAccepted<'a>(&'a str, &'a str);

impl AsyncCheck for LoginAccepted<'_> {
    async fn check(&self, app: &TestApp) -> bool {
        app.login(self.0, self.1, None).await.status == 201
    }
}

struct TokenRefused<'a>(&'a str);

impl AsyncCheck for TokenRefused<'_> {
    async fn check(&self, app: &TestApp) -> bool {
        gateway_get(app, self.0).await.status == 401
    }
}

async fn gateway_get(app: &TestApp, token: &str) -> Resp {
    app.send(
        app.http
            .get(format!("{}/api/v1/balances/current", app.base))
            .bearer_auth(token),
    )
    .await
}

#[tokio::test]
async fn a_key_regenerated_on_one_instance_loses_its_old_secret_on_the_others_within_a_second() {
    let Some((apps, _dir)) = cluster("multi: regenerate lag", &[]).await else {
        return;
    };
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    let org = a.create_org("Acme", "owner@acme.test", &["Acme HK"]).await;
    let key = balances_key(a, &org).await;
    let client_id = cid(&key).to_owned();
    let mut secret = crate::helpers::secret(&key).to_owned();
    // At once, before any notice may have arrived: a miss reads the one key.
    for app in [b, c] {
        assert_eq!(
            app.login(&client_id, &secret, None).await.status,
            201,
            "a key made on A logs in on B and C"
        );
    }

    let mut lags = Vec::new();
    for _ in 0..50 {
        let r = regenerate(a, &org, &client_id).await;
        assert_eq!(r.status, 200, "{}", r.body);
        lags.push(
            time_until(
                &[b, c],
                Duration::from_secs(1),
                LoginRefused(&client_id, &secret),
            )
            .await,
        );
        secret = r.body["api_key"].as_str().unwrap().to_owned();
        for app in [b, c] {
            assert_eq!(
                app.login(&client_id, &secret, None).await.status,
                201,
                "the new secret works everywhere"
            );
        }
    }
    lags.sort();
    let worst = lags[lags.len() - 1];
    loud!(
        "FIGURE: cross-instance revocation lag over 50 regenerates: median {:.1} ms, worst {:.1} ms",
        lags[lags.len() / 2].as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
    assert!(worst < Duration::from_secs(1));
}

/// Answers every request with the identity headers Keygate added.
async fn echo_upstream() -> SocketAddr {
    use axum::extract::Request;
    let app = axum::Router::new().fallback(|req: Request| async move {
        let h = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        axum::Json(json!({"path": req.uri().path(), "client_id": h("x-keygate-client-id")}))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn a_token_from_one_instance_passes_another_gateway_until_the_key_is_deleted_on_a_third() {
    let upstream = format!("http://{}", echo_upstream().await);
    let Some((apps, _dir)) =
        cluster("multi: token across gateways", &["--upstream", &upstream]).await
    else {
        return;
    };
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    let org = a.create_org("Acme", "owner@acme.test", &["Acme HK"]).await;
    let key = balances_key(a, &org).await;
    let token = a.token(&key, None).await;

    let through_b = gateway_get(b, &token).await;
    assert_eq!(through_b.status, 200, "{}", through_b.body);
    assert_eq!(
        through_b.body["client_id"],
        json!(cid(&key)),
        "B proxied it with the key's identity"
    );
    assert_eq!(gateway_get(c, &token).await.status, 200);

    // A session opened on A is good on B too: sessions live in the database.
    let owner_on_b = Session {
        token: org.owner.token.clone(),
        email: org.owner.email.clone(),
    };
    assert_eq!(
        b.req(Method::GET, "/dev/v1/me", Some(&owner_on_b), None)
            .await
            .status,
        200
    );
    let deleted = b
        .req(
            Method::DELETE,
            &format!("/dev/v1/orgs/{}/scoped-keys/{}", org.org_id, cid(&key)),
            Some(&owner_on_b),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let lag = time_until(&[c, a], Duration::from_secs(1), TokenRefused(&token)).await;
    loud!(
        "FIGURE: token refused on the other instances {:.1} ms after the delete",
        lag.as_secs_f64() * 1e3
    );
    assert_eq!(
        gateway_get(b, &token).await.status,
        401,
        "and on B itself at once"
    );
}

/// A paused instance (SIGSTOP: a VM pause, a long GC) must not answer the
/// requests queued during the pause from its old cache once it resumes.
#[tokio::test]
async fn an_instance_resumed_after_a_pause_refuses_a_secret_regenerated_and_a_token_deleted_meanwhile()
 {
    let upstream = format!("http://{}", echo_upstream().await);
    let Some(db) = PgDb::create("multi: revocation after a pause").await else {
        return;
    };
    let dir = Dir(temp_dir());
    let args = ["--upstream", upstream.as_str()];
    let apps = Arc::new(
        (0..2)
            .map(|_| spawn_process(&dir.0, Some(db.clone()), &args, &[]))
            .collect::<Vec<_>>(),
    );
    let (a, b) = (&apps[0], &apps[1]);
    let org = b.create_org("Acme", "owner@acme.test", &["Acme HK"]).await;
    let regenerated_key = balances_key(b, &org).await;
    let deleted_key = balances_key(b, &org).await;
    let client_id = cid(&regenerated_key).to_owned();
    let old_secret = secret(&regenerated_key).to_owned();
    // Both keys known to A, and a token of each issued by A.
    let old_token = a.token(&regenerated_key, None).await;
    let doomed_token = a.token(&deleted_key, None).await;
    assert_eq!(gateway_get(a, &old_token).await.status, 200);
    assert_eq!(gateway_get(a, &doomed_token).await.status, 200);
    // Let A settle: any notice of the creations is handled before the pause.
    tokio::time::sleep(Duration::from_millis(500)).await;

    a.pause();
    let paused_at = Instant::now();
    let regenerated = regenerate(b, &org, &client_id).await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.body);
    let new_secret = regenerated.body["api_key"].as_str().unwrap().to_owned();
    let deleted = b
        .req(
            Method::DELETE,
            &format!(
                "/dev/v1/orgs/{}/scoped-keys/{}",
                org.org_id,
                cid(&deleted_key)
            ),
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);

    // Requests to the paused A: the kernel queues them until it resumes.
    let bounded = Duration::from_secs(20);
    let login = {
        let (apps, c, s) = (apps.clone(), client_id.clone(), old_secret.clone());
        tokio::spawn(
            async move { tokio::time::timeout(bounded, apps[0].login(&c, &s, None)).await },
        )
    };
    let mut tokens: Vec<_> = [old_token.clone(), doomed_token.clone()]
        .into_iter()
        .map(|t| {
            let apps = apps.clone();
            tokio::spawn(
                async move { tokio::time::timeout(bounded, gateway_get(&apps[0], &t)).await },
            )
        })
        .collect();
    // And the same check through forward-auth (nginx's auth_request).
    tokens.push({
        let (apps, t) = (apps.clone(), doomed_token.clone());
        tokio::spawn(async move {
            let a = &apps[0];
            let rb = a
                .http
                .get(format!("{}/auth/verify", a.base))
                .bearer_auth(&t)
                .header("x-original-method", "GET")
                .header("x-original-uri", "/api/v1/balances/current");
            tokio::time::timeout(bounded, a.send(rb)).await
        })
    });
    // Fixed: a real pause of 4 s (a VM pause, a long GC) is the test.
    tokio::time::sleep(Duration::from_secs(4).saturating_sub(paused_at.elapsed())).await;
    assert!(!login.is_finished(), "A answers nothing while paused");
    a.resume();
    let resumed_at = Instant::now();

    let login = login.await.unwrap().expect("the queued login is answered");
    assert_eq!(
        login.status, 401,
        "the old secret is refused after the pause: {}",
        login.body
    );
    let checks = [
        "gateway, regenerated key",
        "gateway, deleted key",
        "forward-auth, deleted key",
    ];
    for (t, what) in tokens.into_iter().zip(checks) {
        let r = t
            .await
            .unwrap()
            .expect("the queued token check is answered");
        assert_eq!(
            r.status, 401,
            "an old token is refused after the pause ({what}): {}",
            r.body
        );
    }
    loud!(
        "FIGURE: queued requests answered {:.0} ms after a 4 s pause ended, all refused",
        resumed_at.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(a.login(&client_id, &old_secret, None).await.status, 401);
    assert_eq!(a.login(&client_id, &new_secret, None).await.status, 201);
    assert_eq!(gateway_get(a, &doomed_token).await.status, 401);
}

#[tokio::test]
async fn concurrent_regenerates_across_instances_leave_exactly_one_working_secret_and_one_audit_entry_each()
 {
    const CONCURRENT: usize = 30;
    let Some((apps, _dir)) = cluster("multi: concurrent regenerates", &[]).await else {
        return;
    };
    let apps = Arc::new(apps);
    let org = Arc::new(
        apps[0]
            .create_org("Acme", "owner@acme.test", &["Acme HK"])
            .await,
    );
    let key = balances_key(&apps[0], &org).await;
    let client_id = cid(&key).to_owned();

    // Ten per instance: one user's password confirmations are counted before
    // they are checked, at most 10 at once per instance (README "Rate limits"),
    // so more than that at the same moment would be refused with 429 by design.
    // A regenerate refused as busy (every password-hashing worker taken for
    // longer than the server waits, which a loaded machine makes likely) must
    // say so with 503 and Retry-After and change nothing; the client retries
    // as told, as a real one would, and in the end every regenerate succeeds.
    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|i| {
            let (apps, org, client_id) = (apps.clone(), org.clone(), client_id.clone());
            tokio::spawn(async move {
                let mut busy = 0;
                loop {
                    let r = regenerate(&apps[i % 3], &org, &client_id).await;
                    if r.status != 503 || busy == 20 {
                        return (r, busy);
                    }
                    assert_eq!(r.code(), "unavailable", "{}", r.body);
                    let wait: u64 = r
                        .headers
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse().ok())
                        .expect("a 503 says when to retry");
                    busy += 1;
                    // As the 503's Retry-After says, as a client would.
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
            })
        })
        .collect();
    let mut issued = Vec::new();
    let mut retried = 0;
    for t in tasks {
        let (r, busy) = t.await.unwrap();
        retried += busy;
        match r.status.as_u16() {
            200 => issued.push(r.body["api_key"].as_str().unwrap().to_owned()),
            other => panic!("a regenerate failed: {other} {}", r.body),
        }
    }
    loud!(
        "FIGURE: {CONCURRENT} concurrent regenerates over 3 instances: {} succeeded, after {retried} answers of 503 busy that were retried",
        issued.len()
    );
    assert_eq!(issued.len(), CONCURRENT, "every regenerate succeeds");

    // Let the last notices land, then every instance must agree on one secret.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut working = Vec::new();
    for s in &issued {
        if apps[2].login(&client_id, s, None).await.status == 201 {
            working.push(s.clone());
        }
    }
    assert_eq!(working.len(), 1, "exactly one of the issued secrets works");
    for app in &apps[..2] {
        assert_eq!(
            app.login(&client_id, &working[0], None).await.status,
            201,
            "the same secret on every instance"
        );
    }

    let page = apps[1]
        .req(
            Method::GET,
            &format!(
                "/dev/v1/orgs/{}/audit-events?client_id={client_id}&limit=200",
                org.org_id
            ),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let regenerated = page.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "scoped_key.regenerated")
        .count();
    assert_eq!(
        regenerated,
        issued.len(),
        "one audit entry per successful regenerate"
    );
}

mod outage;
mod shared;
