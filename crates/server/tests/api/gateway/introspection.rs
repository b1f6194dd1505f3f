//! Introspection (RFC 7662): it needs its secret, reports a revocation at
//! once, says how to turn it on when it is off, and reads its form in every
//! spelling.

use super::*;

#[tokio::test]
async fn introspection_needs_its_secret_and_reports_revocation_at_once() {
    let secret_arg = "introspection-secret-for-tests";
    let app = spawn_app_with(&["--introspection-secret", secret_arg], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let sk = app
        .scoped_key(&org, json!({"name": "i", "org_permissions": perms(&[("billing_invoices", "read")]),
            "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "write")])}}))
        .await;
    let token = app.token(&sk, Some(&org.accounts[0])).await;
    let ask = |t: String, pw: Option<&'static str>| {
        let mut rb = app
            .http
            .post(format!("{}/oauth/introspect", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={t}"));
        if let Some(p) = pw {
            rb = rb.basic_auth("gateway", Some(p));
        }
        app.send(rb)
    };
    assert_eq!(ask(token.clone(), None).await.status, 401);
    assert_eq!(ask(token.clone(), Some("wrong")).await.status, 401);
    let r = ask(token.clone(), Some("introspection-secret-for-tests")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["client_id"], cid(&sk));
    assert_eq!(r.body["org_id"], org.org_id.as_str());
    assert_eq!(r.body["account_id"], org.accounts[0].as_str());
    assert_eq!(r.body["scope"], "billing_invoices:read balances:write");
    assert!(r.body["exp"].as_i64().unwrap() > r.body["iat"].as_i64().unwrap());
    let garbage = ask("garbage".into(), Some("introspection-secret-for-tests")).await;
    assert_eq!(garbage.body, json!({"active": false}));
    app.req(
        Method::POST,
        &format!(
            "/dev/v1/orgs/{}/scoped-keys/{}/regenerate",
            org.org_id,
            cid(&sk)
        ),
        Some(&org.owner),
        Some(json!({"password": PASSWORD})),
    )
    .await;
    let r = ask(token, Some("introspection-secret-for-tests")).await;
    assert_eq!(r.body, json!({"active": false}));
}

#[tokio::test]
async fn introspection_without_its_secret_says_it_is_off_and_how_to_turn_it_on() {
    let app = spawn_app().await;
    assert!(
        app.wait_for_log("POST /oauth/introspect is off", 10).await,
        "start-up says introspection is off:\n{}",
        app.log()
    );
    let rb = app
        .http
        .post(format!("{}/oauth/introspect", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .basic_auth("gateway", Some("anything"))
        .body("token=whatever");
    let r = app.send(rb).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.headers["www-authenticate"],
        "Basic realm=\"keygate-introspection\""
    );
    assert_eq!(r.code(), "unauthorized");
    let message = r.body["message"].as_str().unwrap();
    assert!(message.contains("introspection is off"), "{message}");
    assert!(message.contains("--introspection-secret"), "{message}");

    // With a secret, a wrong one gets the common body and the same challenge.
    let app = spawn_app_with(
        &["--introspection-secret", "introspection-secret-for-tests"],
        &[],
    )
    .await;
    let rb = app
        .http
        .post(format!("{}/oauth/introspect", app.base))
        .basic_auth("gateway", Some("wrong"))
        .body("token=whatever");
    let r = app.send(rb).await;
    assert_eq!(r.status, 401);
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert!(!r.body["message"].as_str().unwrap().contains("off"));
}

/// The form is read the same whatever its spelling: a percent-encoded token,
/// the fields in any order, a hint and fields it does not know; a field sent
/// twice, or no token, is refused with 400 naming `token`.
#[tokio::test]
async fn introspection_reads_its_form_in_every_spelling() {
    let secret = "introspection-secret-for-tests";
    let app = spawn_app_with(&["--introspection-secret", secret], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let sk = app
        .scoped_key(
            &org,
            json!({"name": "i", "org_permissions": perms(&[("billing_invoices", "read")])}),
        )
        .await;
    let token = app.token(&sk, None).await;
    let ask = |body: String| {
        app.send(
            app.http
                .post(format!("{}/oauth/introspect", app.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .basic_auth("gateway", Some(secret))
                .body(body),
        )
    };
    let encoded = token.replace('.', "%2E").replace('-', "%2d");
    for body in [
        format!("token={token}"),
        format!("token={encoded}"),
        format!("token_type_hint=access_token&token={token}"),
        format!("client=x&token={token}&token_type_hint=access_token&z="),
    ] {
        let r = ask(body.clone()).await;
        assert_eq!(r.status, 200, "{body}: {:?}", r.body);
        assert_eq!(r.body["active"], true, "{body}");
        assert_eq!(r.body["client_id"], cid(&sk), "{body}");
        assert_eq!(r.body["scope"], "billing_invoices:read", "{body}");
    }
    for body in [
        format!("token={token}&token={token}"),
        format!("token={token}&token_type_hint=a&token_type_hint=b"),
        "token_type_hint=access_token".to_owned(),
        String::new(),
    ] {
        let r = ask(body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(r.code(), "validation_error", "{body}");
        assert!(r.body.to_string().contains("token"), "{body}: {:?}", r.body);
        assert!(
            !r.body.to_string().contains(&token),
            "the token is not echoed"
        );
    }
    // An empty or mangled token is simply not active.
    for body in [
        "token=".to_owned(),
        format!("token={}", token.replace('.', "+")),
    ] {
        let r = ask(body.clone()).await;
        assert_eq!(r.status, 200, "{body}");
        assert_eq!(r.body, json!({"active": false}), "{body}");
    }
}
