//! Which proxies are trusted: the client is the first untrusted address from
//! the right through several, forwarded headers are ignored without a trusted
//! proxy, and a trusted proxy may be a network.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

use super::{audit_events, client_from, last_used_ip, with_xff};

#[tokio::test]
async fn the_client_is_the_first_untrusted_address_from_the_right_through_several_proxies() {
    let app = spawn_app_with(
        &[
            "--trusted-proxy",
            "127.0.0.1,10.0.0.2",
            "--trusted-proxy",
            "10.0.0.3",
        ],
        &[],
    )
    .await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/scoped-keys", org.org_id),
            Some(&org.owner),
            Some(json!({"name": "office", "allowed_networks": ["198.51.100.0/24", "2001:db8::/32"],
                        "password": PASSWORD,
                        "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.body;
    let login = |xff: &[&str]| {
        let rb = app
            .http
            .post(format!("{}/api/v1/authentication/login", app.base))
            .header("x-client-id", cid(&key))
            .header("x-api-key", secret(&key))
            .header("x-login-as", org.accounts[0].as_str());
        app.send(with_xff(rb, xff))
    };
    // The client's own claims (left of the client) are never read.
    for (xff, status) in [
        (&["203.0.113.9, 198.51.100.7, 10.0.0.3, 10.0.0.2"][..], 201),
        (&["198.51.100.7, 203.0.113.9, 10.0.0.3"][..], 401),
        (
            &["203.0.113.9, 198.51.100.7", "10.0.0.3", "10.0.0.2"][..],
            201,
        ),
        (&["198.51.100.7", "203.0.113.9"][..], 401),
        (&[" 198.51.100.7 ,\t10.0.0.2"][..], 201),
        (&["2001:db8::7, 10.0.0.2"][..], 201),
        (&["[2001:db8::7]"][..], 201),
        (&["::ffff:198.51.100.7"][..], 201),
        // A proxy in its IPv4-mapped spelling is still that proxy.
        (&["198.51.100.7, ::ffff:10.0.0.2"][..], 201),
        // Every entry a trusted proxy: the leftmost is the client.
        (&["10.0.0.3, 10.0.0.2"][..], 401),
    ] {
        let r = login(xff).await;
        assert_eq!(r.status.as_u16(), status, "{xff:?}: {}", r.body);
    }
    // The refusal's audit event and the key's last use name the walked client.
    // `Forwarded` (RFC 7239) is not read: the proxy (127.0.0.1) is the client.
    let r = app
        .send(
            app.http
                .post(format!("{}/api/v1/authentication/login", app.base))
                .header("x-client-id", cid(&key))
                .header("x-api-key", secret(&key))
                .header("x-login-as", org.accounts[0].as_str())
                .header("forwarded", "for=198.51.100.7"),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    let refused = audit_events(&app, &org, "login.network_refused", 4).await;
    let sources: Vec<&str> = refused
        .iter()
        .map(|e| e["source_ip"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        ["127.0.0.1", "10.0.0.3", "203.0.113.9", "203.0.113.9"],
        "newest first"
    );
    let r = login(&["192.0.2.1, 198.51.100.42, 10.0.0.2"]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_owned();
    let verify = |xff: &'static str| {
        app.send(
            app.http
                .get(format!("{}/auth/verify", app.base))
                .bearer_auth(&token)
                .header("x-original-method", "GET")
                .header("x-original-uri", "/api/v1/balances/current")
                .header("x-forwarded-for", xff),
        )
    };
    assert_eq!(verify("203.0.113.9, 10.0.0.3").await.status, 403);
    assert_eq!(
        verify("203.0.113.9, 198.51.100.43, 10.0.0.3").await.status,
        200
    );
    assert_eq!(
        last_used_ip(&app, &org, cid(&key), "198.51.100.43").await,
        "198.51.100.43"
    );
}

#[tokio::test]
async fn without_a_trusted_proxy_forwarded_headers_are_ignored_even_unreadable_ones() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/scoped-keys", org.org_id),
            Some(&org.owner),
            Some(json!({"name": "here", "allowed_networks": ["127.0.0.2"], "password": PASSWORD,
                        "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}})),
        )
        .await;
    let key = r.body;
    for (source, xff, status) in [
        ("127.0.0.2", "x", 201),
        ("127.0.0.2", "1.2.3.4:80", 201),
        ("127.0.0.1", "127.0.0.2", 401),
    ] {
        let r = app
            .send(
                client_from(source)
                    .post(format!("{}/api/v1/authentication/login", app.base))
                    .header("x-client-id", cid(&key))
                    .header("x-api-key", secret(&key))
                    .header("x-login-as", org.accounts[0].as_str())
                    .header("x-forwarded-for", xff),
            )
            .await;
        assert_eq!(r.status.as_u16(), status, "{source} {xff}: {}", r.body);
    }
}

#[tokio::test]
async fn a_trusted_proxy_may_be_a_network_and_a_bad_one_stops_serve() {
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.0/8,10.0.0.0/24"], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/scoped-keys", org.org_id),
            Some(&org.owner),
            Some(json!({"name": "office", "allowed_networks": ["198.51.100.0/24"],
                        "password": PASSWORD,
                        "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.body;
    let login = |source: &str, xff: &str| {
        let rb = client_from(source)
            .post(format!("{}/api/v1/authentication/login", app.base))
            .header("x-client-id", cid(&key))
            .header("x-api-key", secret(&key))
            .header("x-login-as", org.accounts[0].as_str())
            .header("x-forwarded-for", xff);
        app.send(rb)
    };
    // Any peer in 127.0.0.0/8 is a proxy; so is every hop in 10.0.0.0/24.
    for (source, xff, status) in [
        ("127.0.0.2", "198.51.100.7, 10.0.0.77, 10.0.0.3", 201),
        ("127.0.0.3", "203.0.113.9, 198.51.100.7", 201),
        // 10.0.1.1 is outside the trusted network: it is the client.
        ("127.0.0.2", "198.51.100.7, 10.0.1.1", 401),
    ] {
        let r = login(source, xff).await;
        assert_eq!(r.status.as_u16(), status, "{source} {xff}: {}", r.body);
    }

    // A network with bits past its prefix is a typo, not a wider trust.
    let out = app.cli(&["serve", "--trusted-proxy", "10.0.0.1/24"], "");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--trusted-proxy") && err.contains("10.0.0.0/24"),
        "{err}"
    );
}
