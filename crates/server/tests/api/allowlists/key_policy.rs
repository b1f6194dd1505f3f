//! Organization key policies: the owner sets one, and every new or edited key
//! must meet it.

use super::*;

async fn edit(app: &TestApp, org: &Org, client_id: &str, body: Value) -> crate::helpers::Resp {
    app.req(
        Method::PATCH,
        &format!("/dev/v1/orgs/{}/scoped-keys/{client_id}", org.org_id),
        Some(&org.owner),
        Some(body),
    )
    .await
}

fn in_days(days: i64) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + days * 86_400_000;
    keygate_core::time::format_rfc3339(ms)
}

#[tokio::test]
async fn the_owner_sets_a_key_policy_that_every_new_or_edited_key_must_meet() {
    let app = spawn_app().await;
    let org = app
        .create_org("Acme", "owner@acme.test", &["Acme HK"])
        .await;
    let policy_url = format!("/dev/v1/orgs/{}/key-policy", org.org_id);
    let before = create(&app, &org, "made before", json!({})).await;
    assert_eq!(before.status, 201);

    let r = app
        .req(Method::GET, &policy_url, Some(&org.owner), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"max_lifetime_days": null, "require_expiry": false, "require_allowed_networks": false,
               "on_leak": "revoke", "breaking_keys": []})
    );

    // Only the owner, with the password.
    let admin = app.invite_member(&org, "admin@acme.test", "admin").await;
    let body = json!({"require_expiry": true, "password": PASSWORD});
    let r = app
        .req(Method::PATCH, &policy_url, Some(&admin), Some(body.clone()))
        .await;
    assert_eq!(r.status, 403);
    let r = app
        .req(
            Method::PATCH,
            &policy_url,
            Some(&org.owner),
            Some(json!({"require_expiry": true})),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "password_confirmation_failed");
    for (bad, field) in [
        (json!({"max_lifetime_days": 0}), "max_lifetime_days"),
        (json!({"max_lifetime_days": 3651}), "max_lifetime_days"),
        (json!({"max_lifetime_days": "30"}), "max_lifetime_days"),
        (json!({"require_expiry": "yes"}), "require_expiry"),
        (json!({"on_fire": true}), "on_fire"),
    ] {
        let mut bad = bad;
        bad["password"] = PASSWORD.into();
        let r = app
            .req(
                Method::PATCH,
                &policy_url,
                Some(&org.owner),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "validation_error"),
            "{bad}: {}",
            r.body
        );
        assert_eq!(r.body["source"], field, "{bad}: {}", r.body);
    }

    let r = app
        .req(
            Method::PATCH,
            &policy_url,
            Some(&org.owner),
            Some(json!({"require_expiry": true, "max_lifetime_days": 30, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["max_lifetime_days"], 30);
    assert_eq!(r.body["require_expiry"], true);
    assert_eq!(r.body["require_allowed_networks"], false);
    // The key made before breaks it: listed, not changed.
    assert_eq!(
        r.body["breaking_keys"],
        json!([{"client_id": cid(&before.body), "kind": "scoped", "name": "made before",
                "fields": ["expires_at"]}])
    );
    assert_eq!(
        app.login(
            cid(&before.body),
            secret(&before.body),
            Some(&org.accounts[0])
        )
        .await
        .status,
        201
    );
    let event = audit_events(&app, &org, "org.key_policy_updated").await;
    assert_eq!(event[0]["details"]["after"]["max_lifetime_days"], 30);
    assert_eq!(event[0]["details"]["before"]["require_expiry"], false);

    // New keys must meet it, naming the field.
    let r = create(&app, &org, "no expiry", json!({})).await;
    assert_eq!(
        (r.status.as_u16(), r.body["source"].as_str()),
        (400, Some("expires_at")),
        "{}",
        r.body
    );
    let r = create(&app, &org, "too long", json!({"expires_at": in_days(90)})).await;
    assert_eq!(
        (r.status.as_u16(), r.body["source"].as_str()),
        (400, Some("expires_at")),
        "{}",
        r.body
    );
    assert!(
        r.body["message"].as_str().unwrap().contains("30 days"),
        "{}",
        r.body
    );
    let r = create(
        &app,
        &org,
        "bad time",
        json!({"expires_at": "next tuesday"}),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.body["source"].as_str()),
        (400, Some("expires_at")),
        "{}",
        r.body
    );
    let r = create(&app, &org, "ok", json!({"expires_at": in_days(10)})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .req(
            Method::POST,
            &format!(
                "/dev/v1/orgs/{}/scoped-keys/{}/duplicate",
                org.org_id,
                cid(&before.body)
            ),
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["source"].as_str()),
        (400, Some("expires_at")),
        "{}",
        r.body
    );

    // Networks required: creating and editing without them is refused.
    let r = app
        .req(
            Method::PATCH,
            &policy_url,
            Some(&org.owner),
            Some(json!({"max_lifetime_days": null, "require_expiry": null,
                        "require_allowed_networks": true, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["max_lifetime_days"], Value::Null, "null clears");
    assert_eq!(r.body["require_expiry"], false);
    let r = create(&app, &org, "anywhere", json!({})).await;
    assert_eq!(r.body["source"], "allowed_networks", "{}", r.body);
    let r = create(
        &app,
        &org,
        "office",
        json!({"allowed_networks": ["203.0.113.0/24"]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let office = r.body;
    let r = edit(
        &app,
        &org,
        cid(&office),
        json!({"allowed_networks": [], "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.body["source"].as_str()),
        (400, Some("allowed_networks"))
    );
    // The key made before must be brought in line when it is edited.
    let r = edit(
        &app,
        &org,
        cid(&before.body),
        json!({"name": "renamed", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.body["source"], "allowed_networks", "{}", r.body);
    let r = edit(
        &app,
        &org,
        cid(&before.body),
        json!({"allowed_networks": ["10.0.0.0/8"], "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .req(Method::GET, &policy_url, Some(&org.owner), None)
        .await;
    let names: Vec<&str> = r.body["breaking_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ok"], "the edited key is in line now: {}", r.body);

    // Cleared again: plain keys are fine.
    let r = app
        .req(
            Method::PATCH,
            &policy_url,
            Some(&org.owner),
            Some(json!({"require_allowed_networks": null, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(create(&app, &org, "plain", json!({})).await.status, 201);
    // Members may read it.
    let r = app.req(Method::GET, &policy_url, Some(&admin), None).await;
    assert_eq!(
        (r.status.as_u16(), &r.body["require_allowed_networks"]),
        (200, &json!(false))
    );
}
