//! The background audit queue (failed logins) keeps its events through a
//! database outage: a failed write is retried with backoff, the queue is
//! bounded by `--audit-queue-capacity`, what it must drop is counted in
//! `keygate_audit_events_dropped_total` and the log, and a clean stop
//! (SIGTERM) writes what is queued. The outage is real: the audit table is
//! renamed away under the running server, then back.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Org, TestApp, cid, eventually, perms, poll, spawn_app, spawn_app_with};
use crate::inviters::sql;

const AWAY: &str = "alter table audit_events rename to audit_events_away";
const BACK: &str = "alter table audit_events_away rename to audit_events";
const WRONG: &str = "kg_live_000000000000000000000000000000000000";

async fn key(app: &TestApp, org: &Org, name: &str) -> Value {
    app.scoped_key(
        org,
        json!({"name": name, "org_permissions": perms(&[("billing_invoices", "read")])}),
    )
    .await
}

async fn fail_logins(app: &TestApp, key: &Value, n: usize) {
    for _ in 0..n {
        let r = app.login(cid(key), WRONG, None).await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
}

/// The `login.failed` events of a key in its organization's audit log.
async fn failed_logins(app: &TestApp, org: &Org, key: &Value) -> usize {
    let r = app
        .req(
            Method::GET,
            &format!(
                "/dev/v1/orgs/{}/audit-events?client_id={}&limit=200",
                org.org_id,
                cid(key)
            ),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "login.failed")
        .count()
}

/// Waits up to 20 s for `want` failed logins of `key`, returning the count seen.
async fn wait_for_failed_logins(app: &TestApp, org: &Org, key: &Value, want: usize) -> usize {
    poll(Duration::from_secs(20), async || {
        let n = failed_logins(app, org, key).await;
        if n >= want { Ok(n) } else { Err(n) }
    })
    .await
    .unwrap_or_else(|n| n)
}

#[tokio::test]
async fn failed_logins_during_a_database_outage_all_reach_the_audit_log() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let key = key(&app, &org, "ci").await;

    sql(&app, AWAY).await;
    fail_logins(&app, &key, 40).await;
    assert!(
        app.wait_for_log("could not write audit events", 10).await,
        "{}",
        app.log()
    );
    sql(&app, BACK).await;

    assert_eq!(wait_for_failed_logins(&app, &org, &key, 40).await, 40);
    assert!(
        app.log()
            .contains("audit events written after the database refused them")
    );
}

#[tokio::test]
async fn a_full_audit_queue_drops_new_events_and_counts_them() {
    let app = spawn_app_with(
        &[
            "--audit-queue-capacity",
            "100",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        &[],
    )
    .await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    // Two keys: the failed-login limit per key and address is 100 a minute.
    let (one, two) = (key(&app, &org, "one").await, key(&app, &org, "two").await);

    sql(&app, AWAY).await;
    fail_logins(&app, &one, 75).await;
    fail_logins(&app, &two, 75).await;
    assert!(
        app.wait_for_log("audit queue full", 10).await,
        "{}",
        app.log()
    );
    sql(&app, BACK).await;

    // The 100 held are written; the 50 beyond the bound were dropped, counted.
    let written = poll(Duration::from_secs(20), async || {
        let n = failed_logins(&app, &org, &one).await + failed_logins(&app, &org, &two).await;
        if n >= 100 { Ok(n) } else { Err(n) }
    })
    .await
    .unwrap_or_else(|n| n);
    assert_eq!(written, 100);
    let log = app.log();
    let url = log
        .lines()
        .find_map(|l| l.strip_prefix("metrics listening on "))
        .unwrap()
        .trim()
        .to_owned();
    let text = app
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |reason: &str| {
        let series = format!("keygate_audit_events_dropped_total{{reason=\"{reason}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .unwrap_or_else(|| panic!("no {series} in {text}"))
            .trim()
            .to_owned()
    };
    assert_eq!(line("queue_full"), "50");
    assert_eq!(line("shutdown"), "0");
}

/// SIGTERM, without waiting: the process stops on its own time.
fn terminate(app: &TestApp) {
    let pid = app.pid();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Whether the process has exited (a zombie until reaped).
fn exited(app: &TestApp) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", app.pid())).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .trim_start()
        .chars()
        .next();
    stat.is_empty() || state == Some('Z')
}

/// Waits (at most 20 s) until the process has exited.
async fn wait_for_exit(app: &TestApp) {
    eventually(
        "keygate stopping on SIGTERM",
        Duration::from_secs(20),
        async || {
            if exited(app) {
                Ok(())
            } else {
                Err("still running")
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_clean_stop_writes_the_queued_audit_events() {
    let mut app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let key = key(&app, &org, "ci").await;

    sql(&app, AWAY).await;
    fail_logins(&app, &key, 10).await;
    assert!(app.wait_for_log("could not write audit events", 10).await);
    // Stopped while the database still refuses: the process keeps trying
    // for a while instead of dropping the queue; the database comes back.
    terminate(&app);
    // A fixed time: the outage has to last into the stop, and no log line
    // tells a retry made while stopping from one made before (the stop's
    // deadline and backoff run on real time, not the test clock).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!exited(&app), "stopped without writing: {}", app.log());
    sql(&app, BACK).await;
    wait_for_exit(&app).await;

    app.restart_with(None, None);
    let org = Org {
        owner: app
            .sign_in("owner@acme.test", crate::helpers::PASSWORD)
            .await,
        ..org
    };
    assert_eq!(failed_logins(&app, &org, &key).await, 10);
}

#[tokio::test]
async fn a_stop_while_the_database_still_refuses_says_what_it_dropped() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let key = key(&app, &org, "ci").await;
    sql(&app, AWAY).await;
    fail_logins(&app, &key, 7).await;
    assert!(app.wait_for_log("could not write audit events", 10).await);
    terminate(&app);
    wait_for_exit(&app).await;
    let log = app.log();
    let line = log
        .lines()
        .find(|l| l.contains("stopping: audit events the database still refuses were dropped"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("events=7"), "{line}");
}
