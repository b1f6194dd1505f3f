//! Notifications under stress: every committed change is still notified
//! after `kill -9`, and key actions do not wait for a slow webhook.

use super::*;

#[tokio::test]
async fn notifications_of_every_committed_change_survive_kill_dash_nine() {
    let smtp = SmtpServer::start().await;
    let hook = WebhookReceiver::start().await;
    let mut app = fast_app(Some(smtp.port)).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    add_webhook(&app, &org, &hook.url(), &ALL_EVENTS).await;

    const TOTAL: usize = 200;
    const WORKERS: usize = 4;
    let seed = now_ms() as u64;
    let kill_at = 20 + (seed % 160) as usize;
    eprintln!("crash test: kill -9 after about {kill_at} of {TOTAL} changes");
    let attempted = AtomicUsize::new(0);
    tokio::select! {
        _ = churn(&app, &org, &attempted, TOTAL) => panic!("the changes finished before the kill"),
        _ = async {
            while attempted.load(SeqCst) < kill_at {
                // A fine look: the kill should follow the count closely.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            // Fixed: a random moment, so the kill lands anywhere in a change.
            tokio::time::sleep(Duration::from_millis(seed % 50)).await;
        } => app.kill(),
    }
    let before_kill = attempted.load(SeqCst).min(TOTAL);
    app.restart_with(None, None);
    attempted.store(before_kill, SeqCst);
    churn(&app, &org, &attempted, TOTAL).await;

    // Committed = in the audit log.
    let mut committed: BTreeSet<String> = BTreeSet::new();
    let mut before: Option<i64> = None;
    loop {
        let q = before.map(|b| format!("&before={b}")).unwrap_or_default();
        let r = app
            .req(
                Method::GET,
                &format!("/dev/v1/orgs/{}/audit-events?limit=200{q}", org.org_id),
                Some(&org.owner),
                None,
            )
            .await;
        for e in r.body["events"].as_array().unwrap() {
            if ALL_EVENTS.contains(&e["action"].as_str().unwrap()) {
                committed.insert(e["event_id"].as_str().unwrap().to_owned());
            }
        }
        match r.body["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    assert!(
        committed.len() >= TOTAL - 2 * WORKERS,
        "{} committed",
        committed.len()
    );

    // Leases of deliveries cut off by the kill run out after 30 s.
    let posts = hook
        .wait_until(90, |p| {
            let got: BTreeSet<String> = p
                .iter()
                .filter(|p| p.answered == 200)
                .map(|p| p.json()["id"].as_str().unwrap().to_owned())
                .collect();
            committed.is_subset(&got)
        })
        .await;
    let mut bodies: HashMap<String, bytes::Bytes> = HashMap::new();
    for p in &posts {
        let id = p.json()["id"].as_str().unwrap().to_owned();
        assert!(
            committed.contains(&id),
            "a webhook for a change that was never committed: {id}"
        );
        if let Some(b) = bodies.insert(id.clone(), p.body.clone()) {
            assert_eq!(b, p.body, "a duplicate delivery differs from the first");
        }
    }
    // After the kill a mail may come twice, so wait for every event, not a count.
    let mails = smtp
        .wait_until(60, |m| {
            let got: BTreeSet<String> = m.iter().filter_map(|m| m.event_id()).collect();
            committed.is_subset(&got)
        })
        .await;
    let mailed: BTreeSet<String> = mails.iter().map(|m| m.event_id().unwrap()).collect();
    assert_eq!(
        mailed, committed,
        "one mail (at least) per committed change, none for others"
    );
    eprintln!(
        "crash test: {} committed changes, {} webhook posts, {} mails",
        committed.len(),
        posts.len(),
        mails.len()
    );
}

/// Four workers making scoped-key changes (create, regenerate, rename, delete)
/// until `budget` have been attempted in all, or the server is gone.
async fn churn(app: &TestApp, org: &Org, attempted: &AtomicUsize, budget: usize) {
    let worker = |w: usize| async move {
        let mut key: Option<String> = None;
        let mut step = 0;
        while attempted.fetch_add(1, SeqCst) < budget {
            let base = format!("/dev/v1/orgs/{}", org.org_id);
            let pw = json!({"password": PASSWORD});
            let (method, path, body) = match (&key, step % 4) {
                (None, _) | (Some(_), 0) => (
                    Method::POST,
                    format!("{base}/scoped-keys"),
                    json!({"name": format!("k{w}-{step}"), "org_permissions": perms(&[("billing_invoices", "read")]), "password": PASSWORD}),
                ),
                (Some(k), 1) => (
                    Method::POST,
                    format!("{base}/scoped-keys/{k}/regenerate"),
                    pw,
                ),
                (Some(k), 2) => (
                    Method::PATCH,
                    format!("{base}/scoped-keys/{k}"),
                    json!({"name": format!("k{w}-{step}-renamed"), "password": PASSWORD}),
                ),
                (Some(k), _) => (Method::DELETE, format!("{base}/scoped-keys/{k}"), pw),
            };
            let Some(r) = app
                .try_req(method, &path, Some(&org.owner), Some(body))
                .await
            else {
                return; // the server is gone
            };
            // 404: the key's creation was cut off by the kill.
            assert!(
                r.status.is_success() || r.status.as_u16() == 404,
                "{path}: {} {}",
                r.status,
                r.body
            );
            if let Some(c) = r.body["client_id"].as_str() {
                key = Some(c.to_owned());
            }
            step += 1;
            if step % 4 == 0 || r.status.as_u16() == 404 {
                key = None;
                step = 0;
            }
        }
    };
    tokio::join!(worker(0), worker(1), worker(2), worker(3));
}

#[tokio::test]
async fn key_actions_do_not_wait_for_a_slow_webhook() {
    let hook = WebhookReceiver::start().await;
    hook.set_delay(Duration::from_secs(4));
    let app = fast_app(None).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    add_webhook(&app, &org, &hook.url(), &ALL_EVENTS).await;
    let started = Instant::now();
    app.scoped_key(&org, named("slow-receiver")).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    hook.wait_until(15, |p| !p.is_empty()).await;
}
