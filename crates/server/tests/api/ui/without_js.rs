//! The app over plain HTTP, without JavaScript: every flow as a form, a
//! replayed form refused, cookies behind TLS, sign-in limits, the not-found
//! page.

use super::{NoJs, csrf, keys_of, org_with_two_accounts, revealed_key};
use crate::helpers::{PASSWORD, spawn_app, spawn_app_with};

#[tokio::test]
async fn the_app_works_without_javascript_and_a_replayed_form_shows_no_key() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let c = NoJs::new(&app);
    let (st, headers, page) = c.get("/").await;
    assert_eq!(st, 200);
    assert!(page.contains("<form") && page.contains("type=\"password\""));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'")
            && csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");

    let r = c
        .http
        .post(format!("{}/app/sign-in", app.base))
        .header("cookie", c.cookie_header())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("csrf", csrf(&page).as_str()),
                ("email", "owner@acme.test"),
                ("password", PASSWORD),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("keygate_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && !cookie.contains("Secure"),
        "{cookie}"
    );
    let (st, _, home) = c.finish(r).await;
    assert_eq!(st, 200, "followed to the app");
    assert!(home.contains("Scoped API keys"));

    let keys_url = format!("/app/orgs/{}/settings/developer/api-keys", org.org_id);
    let (st, _, prompt) = c
        .get(&format!("{keys_url}/generate?owner_id={}", org.accounts[0]))
        .await;
    assert_eq!(st, 200);
    assert!(prompt.contains("Login password"));
    let token = csrf(&prompt);
    let form = [
        ("csrf", token.as_str()),
        ("owner_id", org.accounts[0].as_str()),
        ("password", PASSWORD),
    ];
    let (st, headers, reveal) = c.post(&format!("{keys_url}/generate"), &form).await;
    assert_eq!(st, 200);
    assert_eq!(headers["cache-control"], "no-store");
    let key = revealed_key(&reveal).expect("the key is shown");
    app.remember(&key);
    assert!(reveal.contains("You will not be able to view this key again"));

    // Reloading the reveal page re-sends the same form: refused, no new key.
    let (st, _, again) = c.post(&format!("{keys_url}/generate"), &form).await;
    assert_eq!(st, 400);
    assert!(revealed_key(&again).is_none() && again.contains("already submitted"));
    let (_, _, list) = c.get(&keys_url).await;
    assert!(!list.contains(&key));

    // A form without a valid token changes nothing.
    let (st, _, _) = c
        .post(
            &format!("{keys_url}/generate"),
            &[("owner_id", org.org_id.as_str()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(
        keys_of(&app, &org).await["admin_keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Sign out ends the session.
    let (_, _, list) = c.get(&keys_url).await;
    let (st, _, page) = c
        .post("/app/sign-out", &[("csrf", csrf(&list).as_str())])
        .await;
    assert_eq!(st, 200);
    assert!(page.contains("Sign in"));
    let (_, _, page) = c.get(&keys_url).await;
    assert!(page.contains("type=\"password\"") && !page.contains("Scoped API keys"));
}

#[tokio::test]
async fn cookies_are_secure_with_the_host_prefix_behind_tls() {
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.1"], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let c = NoJs::new(&app);
    let page = c
        .http
        .get(format!("{}/app/sign-in", app.base))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let pre = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        pre.starts_with("__Host-keygate_presession=") && pre.contains("; Secure"),
        "{pre}"
    );
    let html = page.text().await.unwrap();
    let value = pre.split(';').next().unwrap().to_owned();
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/app/sign-in", app.base))
        .header("x-forwarded-proto", "https")
        .header("cookie", value)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("csrf", csrf(&html).as_str()),
                ("email", "owner@acme.test"),
                ("password", PASSWORD),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-keygate_session=")
            && cookie.contains("; Secure")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    let token = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    app.remember(token);

    // Over TLS only the `__Host-` cookie counts: a plain one (which a sibling
    // subdomain or a plain-HTTP answer could have planted) is ignored.
    let settings = format!("{}/app/orgs/{}/settings", app.base, org.org_id);
    let page = |cookie: String, https: bool| {
        let mut rb = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(&settings)
            .header("cookie", cookie);
        if https {
            rb = rb.header("x-forwarded-proto", "https");
        }
        async move {
            let r = rb.send().await.unwrap();
            let to = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned());
            (r.status().as_u16(), to)
        }
    };
    assert_eq!(
        page(format!("__Host-keygate_session={token}"), true).await,
        (200, None)
    );
    assert_eq!(
        page(format!("keygate_session={token}"), true).await,
        (303, Some("/app/sign-in".to_owned()))
    );
    assert_eq!(
        page(format!("keygate_session={token}"), false).await,
        (200, None),
        "plain HTTP still reads the plain cookie"
    );
}

#[tokio::test]
async fn x_forwarded_proto_counts_only_from_a_trusted_proxy() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/app/sign-in", app.base))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let pre = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        pre.starts_with("keygate_presession=") && !pre.contains("Secure"),
        "{pre}"
    );
}

#[tokio::test]
async fn wrong_sign_in_passwords_are_refused_and_then_rate_limited() {
    let app = spawn_app().await;
    app.create_org("Acme", "owner@acme.test", &[]).await;
    let c = NoJs::new(&app);
    let mut last = 0;
    for _ in 0..12 {
        let (_, _, page) = c.get("/app/sign-in").await;
        let (st, _, body) = c
            .post(
                "/app/sign-in",
                &[
                    ("csrf", csrf(&page).as_str()),
                    ("email", "owner@acme.test"),
                    ("password", "wrong-password-123"),
                ],
            )
            .await;
        assert!(body.contains("<form"));
        last = st;
        if st == 401 {
            assert!(body.contains("The email or password is not correct."));
        }
    }
    assert_eq!(last, 429);
}

#[tokio::test]
async fn unknown_app_pages_are_an_html_not_found_page() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/app/no-such-page", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("Page not found"));
}

// ---- People: invitations, forgot password, Security ----
