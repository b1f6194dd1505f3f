//! Work the instances share: failed logins counted per client address
//! behind a load balancer, and each key event delivered to a webhook once by
//! three dispatchers.

use super::*;

#[tokio::test]
async fn behind_a_trusted_load_balancer_failed_logins_are_counted_per_client_address() {
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.1"], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = app.admin_key(&org, &org.org_id).await;
    let wrong = "kg_live_000000000000000000000000000000000000";
    let login_from = |ip: &'static str, secret: &'static str| {
        let rb = app
            .http
            .post(format!("{}/api/v1/authentication/login", app.base))
            .header("x-client-id", cid(&key))
            .header("x-api-key", secret)
            .header("x-forwarded-for", ip);
        app.send(rb)
    };
    let mut limited = false;
    for _ in 0..120 {
        if login_from("203.0.113.9", wrong).await.status == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "the guessing client is limited");
    let key_secret: &'static str = Box::leak(secret(&key).to_owned().into_boxed_str());
    assert_eq!(
        login_from("198.51.100.7", key_secret).await.status,
        201,
        "another client behind the same balancer is not"
    );
}

/// Key changes through one instance, round-robin over the keys: each one a
/// regenerate with the owner's password. Returns how many succeeded.
async fn regenerate_each(app: &TestApp, org: &Org, keys: &[String], n: usize) -> usize {
    let mut ok = 0;
    for i in 0..n {
        let r = regenerate(app, org, &keys[i % keys.len()]).await;
        assert!(r.status.is_success(), "regenerate: {} {}", r.status, r.body);
        ok += 1;
    }
    ok
}

#[tokio::test]
async fn three_dispatchers_on_one_database_deliver_each_key_event_to_a_webhook_exactly_once() {
    let Some((apps, _dir)) = cluster(
        "three_dispatchers_deliver_each_event_once",
        &["--allow-insecure-webhooks"],
    )
    .await
    else {
        return;
    };
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    let receiver = crate::receivers::WebhookReceiver::start().await;
    let org = a.create_org("Acme", "owner@acme.test", &["Acme HK"]).await;
    let hook = a
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/webhooks", org.org_id),
            Some(&org.owner),
            Some(json!({
                "url": receiver.url(),
                "events": ["scoped_key.created", "scoped_key.regenerated"],
                "password": PASSWORD,
            })),
        )
        .await;
    assert_eq!(hook.status, 201, "register webhook: {}", hook.body);

    // One key created on each instance, then 3 × PER_INSTANCE regenerates,
    // the three instances at once: every change wakes every dispatcher (each
    // hears of it through LISTEN/NOTIFY), so all three race for the same rows.
    const PER_INSTANCE: usize = 20;
    let mut keys = Vec::new();
    for app in [a, b, c] {
        keys.push(cid(&balances_key(app, &org).await).to_owned());
    }
    let start = Instant::now();
    let (na, nb, nc) = tokio::join!(
        regenerate_each(a, &org, &keys, PER_INSTANCE),
        regenerate_each(b, &org, &keys[1..], PER_INSTANCE),
        regenerate_each(c, &org, &keys[2..], PER_INSTANCE),
    );
    let events = keys.len() + na + nb + nc;

    let ids = |posts: &[crate::receivers::Post]| -> Vec<String> {
        posts
            .iter()
            .filter(|p| p.answered == 200)
            .map(|p| p.json()["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let posts = receiver
        .wait_until(60, |p| {
            ids(p)
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                >= events
        })
        .await;
    let all_delivered = start.elapsed();
    // Long enough for every dispatcher to poll a few more times (it polls
    // every 500 ms): a second copy would arrive now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let posts_after = receiver.posts();
    assert_eq!(
        posts_after.len(),
        posts.len(),
        "nothing arrives after every event was delivered"
    );

    let mut per_event: std::collections::HashMap<String, usize> = Default::default();
    for id in ids(&posts_after) {
        *per_event.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = per_event.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(per_event.len(), events, "every key event delivered");
    let by_name = |name: &str| {
        posts_after
            .iter()
            .filter(|p| p.json()["name"] == name)
            .count()
    };
    assert_eq!(by_name("scoped_key.created"), keys.len());
    assert_eq!(by_name("scoped_key.regenerated"), na + nb + nc);

    // Who delivered what: the work is shared, not done three times.
    let sent: Vec<usize> = apps
        .iter()
        .map(|app| {
            app.log()
                .lines()
                .filter(|l| l.contains("notification delivered") && l.contains("webhook"))
                .count()
        })
        .collect();
    assert_eq!(sent.iter().sum::<usize>(), events, "{sent:?}");
    loud!(
        "FIGURE: {events} key events over 3 instances with 3 dispatchers: {} webhook posts, \
         each event exactly once (delivered per instance: {sent:?}), all in {:.1} s",
        posts_after.len(),
        all_delivered.as_secs_f64()
    );
}
