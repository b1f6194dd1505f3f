//! One instance cut off from PostgreSQL: it answers 503 where it must, serves
//! cached logins for a while, and recovers by itself.

use super::*;

/// A TCP forwarder to PostgreSQL that the test can cut and reconnect: the
/// database "stops" for one instance without stopping the shared server.
struct Cable {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    cuts: tokio::sync::watch::Sender<u64>,
}

impl Cable {
    async fn to(server: String) -> Cable {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (cuts, _) = tokio::sync::watch::channel(0u64);
        let (up2, cuts2) = (up.clone(), cuts.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close
                }
                let server = server.clone();
                let mut cut = cuts2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&server).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Cable { addr, up, cuts }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    fn reconnect(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

// Several threads: the cable forwards while the test blocks starting keygate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_cut_off_from_postgres_answers_503_serves_cached_logins_for_a_while_and_recovers_by_itself()
 {
    let Some(db) = PgDb::create("multi: PostgreSQL unreachable").await else {
        return;
    };
    let dir = Dir(temp_dir());
    let a = spawn_process(&dir.0, Some(db.clone()), &[], &[]);
    let cable = Cable::to(db.server()).await;
    let via_cable = db.url_via(cable.addr);
    let x = spawn_process(
        &dir.0,
        Some(db.clone()),
        &[
            "--database-url",
            &via_cable,
            "--cache-reload-interval",
            "1",
            "--cache-max-stale",
            "4",
        ],
        &[],
    );
    let org = a.create_org("Acme", "owner@acme.test", &["Acme HK"]).await;
    let key = balances_key(&a, &org).await;
    let (client_id, old_secret) = (cid(&key).to_owned(), secret(&key).to_owned());
    time_until(
        &[&x],
        Duration::from_secs(1),
        LoginAccepted(&client_id, &old_secret),
    )
    .await;
    let keys_path = format!("/dev/v1/orgs/{}/api-keys", org.org_id);
    // The login above may have read the key before the creation notice came;
    // let the notice land first: a notice that cannot be followed by a re-read
    // drops the key (fail closed), which is not what this test is about.
    tokio::time::sleep(Duration::from_millis(500)).await;

    cable.cut();
    let cut_at = Instant::now();
    assert_eq!(
        x.login(&client_id, &old_secret, None).await.status,
        201,
        "a cached login still works"
    );
    let listed = x.req(Method::GET, &keys_path, Some(&org.owner), None).await;
    assert_eq!(
        (listed.status.as_u16(), listed.code()),
        (503, "unavailable"),
        "{}",
        listed.body
    );
    loud!(
        "FIGURE: a request needing PostgreSQL got 503 after {:.1} s",
        cut_at.elapsed().as_secs_f64()
    );
    assert!(listed.body.get("trace_id").is_some() && !listed.body.to_string().contains("postgres"));
    assert_eq!(
        listed.body["trace_id"].as_str(),
        listed
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        "the 503's trace_id is the request id"
    );

    // Meanwhile another instance changes the key; the cut-off one cannot hear
    // it: without its heartbeat (about 1 s) it stops trusting its cache, well
    // before --cache-max-stale.
    let regenerated = regenerate(&a, &org, &client_id).await;
    assert_eq!(regenerated.status, 200);
    tokio::time::sleep(Duration::from_millis(1300).saturating_sub(cut_at.elapsed())).await;
    let unheard = x.login(&client_id, &old_secret, None).await;
    assert_eq!(
        (unheard.status.as_u16(), unheard.code()),
        (503, "unavailable"),
        "{}",
        unheard.body
    );
    assert!(
        cut_at.elapsed() < Duration::from_secs(4),
        "refused by the heartbeat rule, not --cache-max-stale"
    );
    let new_secret = regenerated.body["api_key"].as_str().unwrap().to_owned();
    tokio::time::sleep(
        Duration::from_secs(4).saturating_sub(cut_at.elapsed()) + Duration::from_millis(300),
    )
    .await;
    let stale = x.login(&client_id, &old_secret, None).await;
    assert_eq!(
        (stale.status.as_u16(), stale.code()),
        (503, "unavailable"),
        "{}",
        stale.body
    );
    for _ in 0..20 {
        assert_eq!(x.login(&client_id, &old_secret, None).await.status, 503);
    }
    let stale_lines = x
        .log()
        .lines()
        .filter(|l| l.contains("cannot be confirmed current"))
        .count();
    assert_eq!(
        stale_lines, 1,
        "a stale cache is logged once, not per request"
    );
    let not_ready = readyz(&x).await;
    assert_eq!(
        (not_ready.status.as_u16(), not_ready.code()),
        (503, "unavailable"),
        "{}",
        not_ready.body
    );
    assert_eq!(readyz(&a).await.status, 200, "the other instance is ready");

    cable.reconnect();
    let back = Instant::now();
    time_until(
        &[&x],
        Duration::from_secs(15),
        LoginAccepted(&client_id, &new_secret),
    )
    .await;
    loud!(
        "FIGURE: recovered {:.1} s after PostgreSQL came back",
        back.elapsed().as_secs_f64()
    );
    assert_eq!(
        x.login(&client_id, &old_secret, None).await.status,
        401,
        "the change made meanwhile bites"
    );
    assert_eq!(
        x.req(Method::GET, &keys_path, Some(&org.owner), None)
            .await
            .status,
        200
    );
    assert!(
        x.wait_for_log("change listener reconnected", 10).await,
        "the listener is back too"
    );
    let ready = readyz(&x).await;
    assert_eq!(ready.status, 200, "ready again: {}", ready.body);
}

async fn readyz(app: &TestApp) -> Resp {
    app.send(app.http.get(format!("{}/readyz", app.base))).await
}
