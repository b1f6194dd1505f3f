//! Where a webhook may point: public HTTPS only, unless insecure webhooks are
//! allowed, checked again at delivery time.

use super::*;

#[tokio::test]
async fn webhook_urls_must_be_public_https_unless_insecure_webhooks_are_allowed() {
    let app = spawn_app().await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    let path = format!("/dev/v1/orgs/{}/webhooks", org.org_id);
    for url in [
        "http://hooks.example.com/in",
        "https://127.0.0.1/in",
        "https://10.0.0.8/in",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/in",
        "https://[fd00:ec2::254]/in",
        "https://[64:ff9b:1::a00:1]/in",
        "https://[::ffff:0:a00:1]/in",
        "https://[::ffff:0:808:808]/in",
        "https://192.88.99.1/in",
        "https://localhost/in",
        "https://user:pw@hooks.example.com/in",
    ] {
        let r = app
            .req(
                Method::POST,
                &path,
                Some(&org.owner),
                Some(json!({"url": url, "events": ["scoped_key.created"], "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code(), r.body["source"].as_str()),
            (400, "validation_error", Some("url")),
            "{url}: {}",
            r.body
        );
    }
    let r = app.req(Method::POST, &path, Some(&org.owner), Some(json!({"url": "https://127.0.0.1/in", "events": ["no.such_event"], "password": PASSWORD}))).await;
    assert_eq!(r.status, 400);
    let r = app.req(Method::POST, &path, Some(&org.owner), Some(json!({"url": "https://127.0.0.1/in", "events": ["scoped_key.created"], "password": "wrong-password-123"}))).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (401, "password_confirmation_failed")
    );
    add_member(&app, &org, "dev@acme.test", "developer").await;
    let dev = app.sign_in("dev@acme.test", PASSWORD).await;
    let r = app.req(Method::GET, &path, Some(&dev), None).await;
    assert_eq!(r.status, 403, "developers do not manage webhooks");
    let other = app.create_org("Other", "other@acme.test", &[]).await;
    let r = app.req(Method::GET, &path, Some(&other.owner), None).await;
    assert_eq!(
        r.status, 404,
        "another organization's webhooks do not exist"
    );
}

#[tokio::test]
async fn a_webhook_that_now_points_inside_is_refused_at_delivery_time() {
    let hook = WebhookReceiver::start().await;
    let mut app = fast_app(None).await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    let wh = add_webhook(&app, &org, &hook.url(), &ALL_EVENTS).await;
    // Same data, started again without --allow-insecure-webhooks: the stored
    // loopback target is checked again before every delivery.
    app.restart_with(Some(&[]), Some(&[("KEYGATE_RETRY_BASE_MS", "200")]));
    app.scoped_key(&org, named("inside")).await;
    // Wait for the delivery's first attempt to be on record, then look.
    let webhook_id = wh["webhook_id"].as_str().unwrap();
    let log = poll(Duration::from_secs(10), async || {
        let log = deliveries(&app, &org, webhook_id).await;
        let tried = log
            .first()
            .is_some_and(|d| d["attempt_log"].as_array().is_some_and(|a| !a.is_empty()));
        if tried { Ok(log) } else { Err(log) }
    })
    .await
    .unwrap_or_else(|log| log);
    assert!(
        hook.posts().is_empty(),
        "nothing reached the loopback receiver"
    );
    let err = log[0]["attempt_log"][0]["error"].as_str().unwrap();
    assert!(err.starts_with("refused"), "{err}");
}
