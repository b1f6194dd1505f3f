//! Keys that were not used: backdated in the database, reported once as
//! `*.unused`, across restarts.

use super::*;

/// Moves a key's creation back by `days` in the database (the server stopped).
async fn backdate(app: &TestApp, client_id: &str, days: i64) {
    let sql = "update api_keys set created_at = created_at - $1 where client_id = $2";
    let ms = days * DAY_MS;
    match &app.database_url {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(sql)
                .bind(ms)
                .bind(client_id)
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        None => {
            let url = format!("sqlite://{}/keygate.db", app.data_dir.display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query(sql)
                .bind(ms)
                .bind(client_id)
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

async fn unused_events(app: &TestApp, org: &Org) -> Vec<Value> {
    let session = app.sign_in(&org.owner.email, PASSWORD).await;
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/audit-events?limit=200", org.org_id),
            Some(&session),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap_or("").ends_with(".unused"))
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_idle_key_is_reported_unused_once_across_restarts() {
    let mut app = spawn_app_with(&["--unused-key-days", "30"], &[]).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["HK", "UK"])
        .await;
    let idle = app
        .scoped_key(&org, json!({"name": "forgotten", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let busy = app
        .scoped_key(&org, json!({"name": "busy", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    app.kill();
    backdate(&app, cid(&idle), 31).await;
    backdate(&app, cid(&busy), 29).await;
    app.restart_with(None, None);
    let events = eventually("a *.unused event", Duration::from_secs(20), async || {
        let events = unused_events(&app, &org).await;
        if events.is_empty() {
            Err("none")
        } else {
            Ok(events)
        }
    })
    .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["action"], "scoped_key.unused");
    assert_eq!(events[0]["client_id"], cid(&idle));
    // Mailed to the owner.
    eventually(
        "a mail about the unused key",
        Duration::from_secs(20),
        async || {
            let found = std::fs::read_dir(app.data_dir.join("mail"))
                .map(|d| {
                    d.filter_map(Result::ok).any(|e| {
                        std::fs::read_to_string(e.path())
                            .unwrap_or_default()
                            .contains("'forgotten' was not used for 30 days")
                    })
                })
                .unwrap_or(false);
            if found { Ok(()) } else { Err("none") }
        },
    )
    .await;
    // Started again: still one (the claim is in the database).
    let sweeps = |app: &TestApp| app.log().matches("checked for unused keys").count();
    let before = sweeps(&app);
    app.restart_with(None, None);
    eventually(
        "the restarted server looking for unused keys",
        Duration::from_secs(20),
        async || {
            if sweeps(&app) > before {
                Ok(())
            } else {
                Err("no sweep yet")
            }
        },
    )
    .await;
    assert_eq!(unused_events(&app, &org).await.len(), 1);
}
