//! The hot path (login, token checks) answers from memory: no database query.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

async fn verify(app: &TestApp, token: &str, uri: &str) -> Resp {
    app.send(
        app.http
            .get(format!("{}/auth/verify", app.base))
            .bearer_auth(token)
            .header("x-original-method", "GET")
            .header("x-original-uri", uri),
    )
    .await
}

#[tokio::test]
async fn logins_and_token_checks_run_no_database_query() {
    let app = spawn_app_with(&[], &[("RUST_LOG", "info,sqlx::query=debug")]).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    assert_eq!(org.owner.email, "owner@acme.test");
    let acct = &org.accounts[0];
    let mut keys = Vec::new();
    for i in 0..3 {
        keys.push(
            app.scoped_key(
                &org,
                json!({"name": format!("k{i}"), "org_permissions": [],
                       "account_permissions": {"accounts": [acct], "resources": perms(&[("balances", "read")])}}),
            )
            .await,
        );
    }
    // Warm up: the first login and check.
    let _ = app.token(&keys[0], None).await;
    // A query made while answering a request is logged inside that request's
    // span; background loops (outbox dispatcher, usage flush, lifecycle
    // sweeper) query on their own schedule, outside any request. Setting up
    // the organization queried inside requests, so the criterion can see them.
    assert!(
        app.wait_for_log("sqlx::query", 5).await,
        "queries are logged at this level, so their absence below means something"
    );
    assert!(
        !in_requests(&app.log()).is_empty(),
        "the set-up's queries are logged inside request spans: {}",
        app.log()
    );
    log_caught_up(&app, "speed-set-up-done").await;
    let mark = app.log().len();
    for _ in 0..10 {
        for k in &keys {
            let token = app.token(k, None).await;
            let r = verify(&app, &token, "/api/v1/balances/current").await;
            assert_eq!(r.status, 200, "{}", r.body);
            let r = verify(&app, &token, "/api/v1/transfers").await;
            assert_eq!(r.status, 403);
        }
    }
    log_caught_up(&app, "speed-checks-done").await;
    let after = app.log()[mark..].to_owned();
    let queries = in_requests(&after);
    assert!(
        queries.is_empty(),
        "the hot path queried the database: {queries:?}"
    );
}

/// Waits until the log holds everything the server wrote for the requests
/// answered so far: the line of one more request, with `id` as its request
/// id, comes after theirs. `/healthz` queries nothing.
async fn log_caught_up(app: &TestApp, id: &str) {
    let rb = app.http.get(format!("{}/healthz", app.base));
    assert_eq!(app.send(rb.header("x-request-id", id)).await.status, 200);
    assert!(
        app.wait_for_log(&format!("request_id={id}"), 10).await,
        "no log line of the request {id}"
    );
}

/// The logged queries that ran while a request was being answered.
fn in_requests(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("sqlx::query") && l.contains("request{"))
        .collect()
}

#[tokio::test]
async fn forward_auth_allows_a_key_scoped_to_an_account_created_after_start() {
    let app = spawn_app().await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK", "Acme UK"])
        .await;
    let key = app
        .scoped_key(
            &org,
            json!({"name": "reader", "org_permissions": [],
                   "account_permissions": {"accounts": [&org.accounts[1]], "resources": perms(&[("balances", "read")])}}),
        )
        .await;
    let token = app.token(&key, None).await;
    let r = verify(&app, &token, "/api/v1/balances/current").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["x-keygate-account-id"], org.accounts[1].as_str());
    let me = app
        .req(Method::GET, "/dev/v1/me", Some(&org.owner), None)
        .await;
    assert_eq!(me.status, 200);
}

/// `serve` runs with glibc's mmap threshold fixed (`cmd/malloc.rs`), so the
/// memory of a burst goes back to the system; same process id, same output.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[tokio::test]
async fn serve_runs_with_the_allocator_pinned() {
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        eprintln!(
            "SKIPPED: GLIBC_TUNABLES is set in the test's environment; serve keeps it as it is"
        );
        return;
    }
    let app = spawn_app().await;
    let environ = std::fs::read(format!("/proc/{}/environ", app.pid())).unwrap();
    let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
    assert!(
        vars.contains(&&b"GLIBC_TUNABLES=glibc.malloc.mmap_threshold=262144"[..]),
        "serve's environment: {}",
        String::from_utf8_lossy(&environ)
    );
    // Still the process the test started, and it answers.
    let r = app.req(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, 200);
}

/// `serve` answers on one lane per core (`cmd/listen.rs`): threads named
/// `keygate-lane-N`, each serving the connections handed to it, so that
/// nothing of a request crosses threads. Connections are handed out in
/// turn: as many keep-alive connections as lanes, each busy, keep every
/// lane at work.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn serve_answers_on_one_lane_per_core() {
    let app = spawn_app().await;
    let cores = std::thread::available_parallelism().unwrap().get();
    let lanes = || {
        let mut names: Vec<(String, u64)> = std::fs::read_dir(format!("/proc/{}/task", app.pid()))
            .unwrap()
            .filter_map(|t| {
                let dir = t.ok()?.path();
                let name = std::fs::read_to_string(dir.join("comm")).ok()?;
                let name = name.trim().strip_prefix("keygate-lane-")?.to_owned();
                // utime + stime, in clock ticks (fields 14 and 15).
                let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
                Some((
                    name,
                    f[11].parse::<u64>().ok()? + f[12].parse::<u64>().ok()?,
                ))
            })
            .collect();
        names.sort();
        names
    };
    // Answered, so `serve` has started its lanes (they start just after the
    // "listening" line the helper waits for).
    assert_eq!(
        app.req(Method::GET, "/healthz", None, None).await.status,
        200
    );
    // A thread names itself once it runs, so a lane not yet scheduled on a
    // busy machine has no name for a moment.
    let want: Vec<String> = (0..cores).map(|i| i.to_string()).collect();
    let before = eventually(
        "one lane per core",
        std::time::Duration::from_secs(10),
        async || {
            let named = lanes();
            let names: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
            if names == want {
                Ok(named)
            } else {
                Err(format!("lanes {names:?}, want {want:?}"))
            }
        },
    )
    .await;
    // One client (one keep-alive connection) per lane, all busy at once,
    // until every lane has spent CPU time (ticks of 10 ms) on them.
    let clients: Vec<reqwest::Client> = (0..cores)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap()
        })
        .collect();
    let url = format!("{}/healthz", app.base);
    eventually(
        "every lane serves requests",
        std::time::Duration::from_secs(30),
        async || {
            let rounds = clients.iter().cloned().map(|c| {
                let url = url.clone();
                tokio::spawn(async move {
                    for _ in 0..200 {
                        let r = c.get(&url).send().await.unwrap();
                        assert_eq!(r.status(), 200);
                    }
                })
            });
            for round in rounds.collect::<Vec<_>>() {
                round.await.unwrap();
            }
            let idle: Vec<String> = lanes()
                .into_iter()
                .zip(&before)
                .filter(|((_, t), (_, t0))| t <= t0)
                .map(|((n, _), _)| n)
                .collect();
            if idle.is_empty() {
                Ok(())
            } else {
                Err(format!("lanes that have not worked yet: {idle:?}"))
            }
        },
    )
    .await;
}
