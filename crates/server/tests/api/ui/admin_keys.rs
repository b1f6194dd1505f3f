//! Admin keys' expiry, allowlist and rate limit in the Developer app: set on
//! Generate, kept or changed on Regenerate (dialog and plain page), the rate
//! limit edited alone; and the organization's default rate limit, which
//! admins set as the JSON API lets them.

use reqwest::Method;
use serde_json::{Value, json};

use super::rate_limits::{key_page, token, verify};
use super::{NoJs, browser, csrf, keys_of, org_with_two_accounts, revealed_key, signed_in};
use crate::helpers::{Org, PASSWORD, TestApp, cid, secret, spawn_app};

/// The organization's admin key as the JSON API lists it.
async fn org_admin_key(app: &TestApp, org: &Org) -> Value {
    let all = keys_of(app, org).await;
    all["admin_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["owner_id"] == org.org_id.as_str())
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn an_admin_key_generated_in_the_app_carries_an_allowlist_and_a_rate_limit() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let Some(b) = browser(&app, "admin_key_terms").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;

    // A bad line first: named under the list, everything typed kept, no key.
    b.click("a[aria-label='Generate the admin key of Acme']")
        .await;
    b.fill("#allowed_networks", "203.0.113.0/24\n203.0.113.300")
        .await;
    b.fill("#rate_limit_requests", "5").await;
    b.fill("#rate_limit_per_seconds", "60").await;
    b.shot("generate-admin-key-dialog").await;
    b.confirm(PASSWORD, "Generate").await;
    b.wait_for_text("Line 2:").await;
    let errors = b.css("#networks-error").await.text().await.unwrap();
    assert!(
        errors.contains("Line 2: \"203.0.113.300\" is not an IPv4 or IPv6 address"),
        "{errors}"
    );
    assert_eq!(
        b.value("#allowed_networks").await,
        "203.0.113.0/24\n203.0.113.300"
    );
    assert_eq!(b.value("#rate_limit_requests").await, "5");
    assert_eq!(b.value("#rate_limit_per_seconds").await, "60");
    b.shot("generate-admin-key-network-error").await;
    assert!(org_admin_key(&app, &org).await.is_null(), "nothing created");

    // Fixed: the key only logs in from 203.0.113.0/24, so not from here.
    b.fill("#allowed_networks", "203.0.113.0/24").await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Generate").await;
    let (client_id, first) = b.revealed(&app).await;
    let shown = org_admin_key(&app, &org).await;
    assert_eq!(shown["allowed_networks"], json!(["203.0.113.0/24"]));
    assert_eq!(
        shown["rate_limit"],
        json!({"requests": 5, "per_seconds": 60})
    );
    assert_eq!(app.login(&client_id, &first, None).await.status, 401);
    assert_eq!(
        key_page(&b, &org, &client_id).await,
        "5 requests per 60 seconds"
    );
    let networks = b.css("#key-networks").await.text().await.unwrap();
    assert_eq!(networks, "203.0.113.0/24");

    // Regenerate starts from the key's values; the allowlist cleared and a
    // limit of 2 per hour.
    b.open_api_keys().await;
    b.menu(&client_id, "Regenerate").await;
    assert_eq!(b.value("#allowed_networks").await, "203.0.113.0/24");
    assert_eq!(b.value("#rate_limit_requests").await, "5");
    assert_eq!(b.value("#rate_limit_per_seconds").await, "60");
    assert_eq!(b.value("#expires_at").await, "");
    b.fill("#allowed_networks", "").await;
    b.fill("#rate_limit_requests", "2").await;
    b.fill("#rate_limit_per_seconds", "3600").await;
    b.shot("regenerate-admin-key-dialog").await;
    b.confirm(PASSWORD, "Regenerate").await;
    let (same, key) = b.revealed(&app).await;
    assert_eq!(same, client_id, "the client ID stays");

    // Proven from outside: it logs in here now, and forward-auth holds it to
    // 2 calls.
    let t = token(&app, &client_id, &key).await;
    assert_eq!(verify(&app, &t).await.0, 200);
    assert_eq!(verify(&app, &t).await.0, 200);
    let (status, retry) = verify(&app, &t).await;
    assert_eq!(status, 429, "the third call");
    let secs: u32 = retry.expect("Retry-After").parse().unwrap();
    assert!(secs >= 1, "Retry-After: {secs}");
    assert_eq!(
        key_page(&b, &org, &client_id).await,
        "2 requests per 3600 seconds"
    );
    let networks = b.css("#key-networks").await.text().await.unwrap();
    assert_eq!(networks, "Any network");
    b.shot_full("admin-key-page-limits", 1600).await;

    // Its rate limit alone changes without a new secret.
    b.click_text("a", "Edit rate limit").await;
    b.wait_for_text("Save rate limit").await;
    assert_eq!(b.value("#rate_limit_requests").await, "2");
    b.fill("#rate_limit_requests", "10").await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Save rate limit").await;
    b.wait_for_text("Rate limit saved").await;
    let limit = b.css("#key-rate-limit").await.text().await.unwrap();
    assert_eq!(limit, "10 requests per 3600 seconds");
    assert_eq!(app.login(&client_id, &key, None).await.status, 201);
    b.close().await;
}

/// The form of the page, as a browser without JavaScript sends it: every
/// input and textarea with its value, then `changes`.
fn fields_of(html: &str, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let attr = |tag: &str, name: &str| {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(tag[at..].split('"').next()?.to_owned())
    };
    for part in html.split('<').skip(1) {
        let tag = part.split('>').next().unwrap_or("");
        let Some(name) = attr(tag, "name") else {
            continue;
        };
        if tag.starts_with("input") && !tag.contains("type=\"password\"") {
            out.push((name, attr(tag, "value").unwrap_or_default()));
        } else if tag.starts_with("textarea") {
            let text = part.split_once('>').map(|(_, t)| t).unwrap_or("");
            out.push((name, text.replace("&#x2f;", "/").replace("&#47;", "/")));
        } else if tag.starts_with("select") {
            out.push((name, "0".into()));
        }
    }
    for (k, v) in changes {
        out.retain(|(n, _)| n != k);
        out.push(((*k).to_owned(), (*v).to_owned()));
    }
    out
}

async fn post(c: &NoJs<'_>, path: &str, form: &[(String, String)]) -> super::Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    c.post(path, &pairs).await
}

#[tokio::test]
async fn without_javascript_a_plain_regenerate_keeps_an_admin_keys_fields() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let account = org.accounts[0].clone();
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/admin-keys", org.org_id),
            Some(&org.owner),
            Some(json!({"owner_id": account, "password": PASSWORD,
                "allowed_networks": ["127.0.0.0/8"], "expires_at": "2099-01-02T03:04:05Z",
                "rate_limit": {"requests": 3, "per_seconds": 60}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let old = r.body;
    let keys_url = format!("/app/orgs/{}/settings/developer/api-keys", org.org_id);
    let at = format!("{keys_url}/{}", cid(&old));
    let c = signed_in(&app, &org.owner.email).await;

    // The page shows the key's values.
    let (st, _, page) = c.get(&format!("{at}/regenerate")).await;
    assert_eq!(st, 200);
    assert!(page.contains("value=\"2099-01-02T03:04:05\""), "{page}");
    assert!(page.contains(">127.0.0.0/8</textarea>"), "{page}");
    assert!(page.contains("value=\"3\"") && page.contains("value=\"60\""));

    // A wrong password: the error, the values typed kept, nothing written.
    let typed = [("rate_limit_requests", "9"), ("password", "wrong")];
    let (st, _, again) = post(&c, &format!("{at}/regenerate"), &fields_of(&page, &typed)).await;
    assert_eq!(st, 401);
    assert!(again.contains("That password is not correct"));
    assert!(again.contains("value=\"9\""), "what was typed stays");
    let acct = Some(account.as_str());
    assert_eq!(app.login(cid(&old), secret(&old), acct).await.status, 201);

    // A bad expiry: beside its field, nothing written.
    let bad = [
        ("expires_at", "2001-01-01T00:00:00"),
        ("password", PASSWORD),
    ];
    let (st, _, again) = post(&c, &format!("{at}/regenerate"), &fields_of(&again, &bad)).await;
    assert_eq!(st, 400);
    assert!(again.contains("Expires: must be in the future"), "{again}");
    assert_eq!(app.login(cid(&old), secret(&old), acct).await.status, 201);

    // The form as shown: a new secret, the same expiry, allowlist and limit.
    let (_, _, page) = c.get(&format!("{at}/regenerate")).await;
    let form = fields_of(&page, &[("password", PASSWORD)]);
    let (st, _, reveal) = post(&c, &format!("{at}/regenerate"), &form).await;
    assert_eq!(st, 200);
    let key = revealed_key(&reveal).expect("the new key");
    app.remember(&key);
    assert_eq!(app.login(cid(&old), secret(&old), acct).await.status, 401);
    assert_eq!(app.login(cid(&old), &key, acct).await.status, 201);
    let all = keys_of(&app, &org).await;
    let now = &all["admin_keys"][0];
    assert_eq!(now["allowed_networks"], json!(["127.0.0.0/8"]));
    assert_eq!(now["rate_limit"], json!({"requests": 3, "per_seconds": 60}));
    assert_eq!(now["expires_at"], old["expires_at"], "the same expiry");

    // Edit rate limit: a bad value beside its field, then saved.
    let (st, _, page) = c.get(&format!("{at}/rate-limit")).await;
    assert_eq!(st, 200);
    let bad = [("rate_limit_requests", "0"), ("password", PASSWORD)];
    let (st, _, again) = post(&c, &format!("{at}/rate-limit"), &fields_of(&page, &bad)).await;
    assert_eq!(st, 400);
    assert!(again.contains("Requests: must be a whole number from 1 to"));
    let good = [("rate_limit_requests", "7"), ("password", PASSWORD)];
    let (st, _, done) = post(&c, &format!("{at}/rate-limit"), &fields_of(&again, &good)).await;
    assert_eq!(st, 200);
    assert!(done.contains("Rate limit saved") && done.contains("7 requests per 60 seconds"));
    let all = keys_of(&app, &org).await;
    assert_eq!(
        all["admin_keys"][0]["rate_limit"],
        json!({"requests": 7, "per_seconds": 60})
    );
}

#[tokio::test]
async fn admins_set_the_default_rate_limit_and_developers_see_no_form() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    app.invite_member(&org, "admin@acme.test", "admin").await;
    app.invite_member(&org, "dev@acme.test", "developer").await;
    let settings = format!("/app/orgs/{}/settings", org.org_id);

    let dev = signed_in(&app, "dev@acme.test").await;
    let (st, _, page) = dev.get(&settings).await;
    assert_eq!(st, 200);
    assert!(page.contains("Default rate limit") && !page.contains("Save default rate limit"));
    let form = [
        ("csrf", csrf(&page)),
        ("rate_limit_requests", "1".into()),
        ("rate_limit_per_seconds", "60".into()),
        ("password", PASSWORD.into()),
    ];
    let form: Vec<(String, String)> = form.into_iter().map(|(k, v)| (k.into(), v)).collect();
    let (st, _, _) = post(&dev, &format!("{settings}/rate-limit"), &form).await;
    assert_eq!(st, 403, "a developer may not set it");

    let Some(b) = browser(&app, "admin_default_rate_limit").await else {
        return;
    };
    b.sign_in("admin@acme.test", PASSWORD).await;
    b.go(&settings).await;
    b.wait_for_text("Save default rate limit").await;
    b.fill("#rate_limit_requests", "4").await;
    b.fill("#rate_limit_per_seconds", "60").await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Save default rate limit").await;
    b.wait_for_text("Default rate limit saved.").await;
    let now = b.css("#org-rate-limit-now").await.text().await.unwrap();
    assert_eq!(now, "4 requests per 60 seconds");
    let url = format!("/dev/v1/orgs/{}/rate-limit", org.org_id);
    let set = app.req(Method::GET, &url, Some(&org.owner), None).await;
    assert_eq!(
        set.body["rate_limit"],
        json!({"requests": 4, "per_seconds": 60})
    );
    b.close().await;
}
