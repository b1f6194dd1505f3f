//! Bad lifecycle input (expiry, grace) is a validation error naming the
//! field, and nothing is written.

use super::*;

#[tokio::test]
async fn bad_lifecycle_input_is_a_validation_error_naming_the_field_and_changes_nothing() {
    let app = app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let acct = Some(org.accounts[0].as_str());
    let k = app.scoped_key(&org, balances("steady", &org)).await;
    let keys_path = format!("/dev/v1/orgs/{}/scoped-keys", org.org_id);
    let before = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/api-keys", org.org_id),
            Some(&org.owner),
            None,
        )
        .await
        .body;
    for bad in [
        json!(rfc3339_in(-60.0)),
        json!("tomorrow"),
        json!("2030-01-01"),
        json!("2030-01-01T00:00:00"),
        json!("2030-02-30T00:00:00Z"),
        json!(1_900_000_000),
    ] {
        let mut body = balances("never", &org);
        body["expires_at"] = bad.clone();
        body["password"] = PASSWORD.into();
        let r = app
            .req(Method::POST, &keys_path, Some(&org.owner), Some(body))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "validation_error"),
            "{bad}: {}",
            r.body
        );
        assert_eq!(r.body["source"], "expires_at", "{bad}");
        let r = app
            .req(
                Method::PATCH,
                &format!("{keys_path}/{}", cid(&k)),
                Some(&org.owner),
                Some(json!({"name": "changed?", "expires_at": bad, "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["source"].clone()),
            (400, json!("expires_at"))
        );
        let r = app
            .req(
                Method::POST,
                &format!("{keys_path}/{}/duplicate", cid(&k)),
                Some(&org.owner),
                Some(json!({"expires_at": bad, "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["source"].clone()),
            (400, json!("expires_at"))
        );
        let r = regenerate(&app, &org, "scoped", cid(&k), json!({"expires_at": bad})).await;
        assert_eq!(
            (r.status.as_u16(), r.body["source"].clone()),
            (400, json!("expires_at"))
        );
    }
    for bad in [json!(-1), json!(604801), json!("3600"), json!(1.5)] {
        let r = regenerate(
            &app,
            &org,
            "scoped",
            cid(&k),
            json!({"previous_secret_expires_in": bad}),
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "validation_error"),
            "{bad}: {}",
            r.body
        );
        assert_eq!(r.body["source"], "previous_secret_expires_in", "{bad}");
    }
    // Nothing changed: same keys, same secret.
    let after = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/api-keys", org.org_id),
            Some(&org.owner),
            None,
        )
        .await
        .body;
    assert_eq!(before, after);
    assert_eq!(app.login(cid(&k), secret(&k), acct).await.status, 201);
}
