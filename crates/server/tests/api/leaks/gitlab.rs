//! GitLab's token revocation: with `on_leak = notify` the key is flagged once,
//! until it is regenerated.

use super::*;

#[tokio::test]
async fn gitlab_revocation_with_notify_flags_the_key_once_until_it_is_regenerated() {
    let smtp = SmtpServer::start().await;
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = spawn_app_with(
        &["--smtp-url", &smtp_url],
        &[
            ("KEYGATE_GITLAB_REVOCATION_TOKEN", GITLAB_TOKEN),
            ("KEYGATE_RETRY_BASE_MS", "200"),
        ],
    )
    .await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;

    // The operator's switch (the key-policy route will carry it too).
    let out = app.cli(
        &["org", "set", "--org", &org.org_id, "--on-leak", "notify"],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["on_leak"], "notify");
    let out = app.cli(
        &["org", "set", "--org", &org.org_id, "--on-leak", "delete"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("on_leak"));

    let r = gitlab(
        &app,
        Method::GET,
        "revocable_token_types",
        GITLAB_TOKEN,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"types": ["keygate_api_key"]}));
    for wrong in ["wrong", "gl-revocation-0123456789abcdeF", ""] {
        let r = gitlab(&app, Method::GET, "revocable_token_types", wrong, None).await;
        assert_eq!(r.status, 401, "{wrong:?}");
    }

    let k = scoped(&app, &org, "flagged").await;
    let location = "https://gitlab.example/acme/app/-/blob/main/deploy.env";
    let report = json!([
        {"type": "keygate_api_key", "token": secret(&k), "location": location},
        {"type": "keygate_api_key", "token": "kg_live_000000000000000000000000000000000000"},
    ]);
    let r = gitlab(
        &app,
        Method::POST,
        "revoke_tokens",
        "wrong",
        Some(report.clone()),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(exposed_events(&app, &org).await.is_empty());
    let r = gitlab(
        &app,
        Method::POST,
        "revoke_tokens",
        GITLAB_TOKEN,
        Some(report.clone()),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);

    // Flagged, not revoked: it still logs in, and reads and the app say so.
    app.token(&k, Some(&org.accounts[0])).await;
    let path = format!("/dev/v1/orgs/{}/scoped-keys/{}", org.org_id, cid(&k));
    let one = app.req(Method::GET, &path, Some(&org.owner), None).await;
    assert!(one.body["exposed_at"].is_string(), "{}", one.body);
    let events = exposed_events(&app, &org).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["details"]["exposure"]["action"], "flagged");
    assert_eq!(events[0]["details"]["exposure"]["reported_by"], "gitlab");
    assert_eq!(events[0]["details"]["exposure"]["location"], location);

    let mails = smtp
        .wait_until(20, |ms| ms.iter().any(|m| plain(m).contains("deploy.env")))
        .await;
    let m = mails
        .iter()
        .find(|m| plain(m).contains("deploy.env"))
        .unwrap();
    let text = plain(m);
    assert!(m.to.iter().any(|t| t.contains("owner@acme.test")));
    assert!(text.contains("was found leaked"), "{text}");
    assert!(text.contains("still works"), "{text}");
    assert!(!text.contains(secret(&k)));

    // Reported again: 204 and nothing new.
    let r = gitlab(
        &app,
        Method::POST,
        "revoke_tokens",
        GITLAB_TOKEN,
        Some(report.clone()),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(exposed_events(&app, &org).await.len(), 1);

    // Regenerating clears the mark; the leaked secret is then nobody's.
    let r = app
        .req(
            Method::POST,
            &format!("{path}/regenerate"),
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["exposed_at"].is_null(), "{}", r.body);
    let r = gitlab(
        &app,
        Method::POST,
        "revoke_tokens",
        GITLAB_TOKEN,
        Some(report),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(exposed_events(&app, &org).await.len(), 1);

    for bad in [
        json!({"token": "x"}),
        json!([{"token": "x"}]),
        json!("text"),
    ] {
        let r = gitlab(
            &app,
            Method::POST,
            "revoke_tokens",
            GITLAB_TOKEN,
            Some(bad.clone()),
        )
        .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
}
