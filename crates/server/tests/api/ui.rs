//! The Developer app in a real browser: Debian's headless Chromium driven over
//! WebDriver (chromedriver), against the real `keygate` binary, following the
//! reference page's steps. Without Chromium the browser tests print SKIPPED and
//! pass, except under CI=true where they fail. Some tests (`without_js.rs`, a
//! few of `people.rs`) use plain HTTP only (the app without JavaScript,
//! headers, form tokens) and always run. This file holds `NoJs`, the client
//! without JavaScript, and the helpers the topic files share; the browser is
//! in `chromium.rs`.

use std::sync::Mutex;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Org, PASSWORD, TestApp, perms};

use chromium::{Browser, browser, screenshot_dir};

mod admin_keys;
mod allowlist;
mod api_keys;
mod audit;
mod chromium;
mod docs;
mod federation;
mod forms;
mod frames;
mod leaks;
mod lifecycle;
mod passkeys;
mod people;
mod rate_limits;
mod screens;
mod sso;
mod two_factor;
mod usage;
mod without_js;

async fn org_with_two_accounts(app: &TestApp) -> Org {
    app.create_org("Acme", "owner@acme.test", &["Acme HK", "Acme UK"])
        .await
}

async fn keys_of(app: &TestApp, org: &Org) -> Value {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/api-keys", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    r.body
}

/// A form client that keeps cookies and follows redirects, the way a browser
/// without JavaScript works.
struct NoJs<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookies: Mutex<Vec<(String, String)>>,
}

type Page = (u16, reqwest::header::HeaderMap, String);

impl<'a> NoJs<'a> {
    fn new(app: &'a TestApp) -> NoJs<'a> {
        NoJs {
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Mutex::new(Vec::new()),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&self, r: reqwest::Response) -> Page {
        let st = r.status().as_u16();
        let headers = r.headers().clone();
        for c in headers.get_all("set-cookie") {
            let first = c.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = first.split_once('=').unwrap();
            if k.contains("session") && !v.is_empty() && !k.contains("presession") {
                self.app.remember(v);
            }
            let mut jar = self.cookies.lock().unwrap();
            jar.retain(|(n, _)| n != k);
            if !v.is_empty() {
                jar.push((k.to_owned(), v.to_owned()));
            }
        }
        if st == 303 {
            let to = headers["location"].to_str().unwrap().to_owned();
            return Box::pin(self.get(&to)).await;
        }
        (st, headers, r.text().await.unwrap())
    }

    async fn get(&self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.app.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        let r = self
            .http
            .post(format!("{}{path}", self.app.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }
}

fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

fn revealed_key(html: &str) -> Option<String> {
    let at = html.find("id=\"api-key\"")?;
    let v = html[at..].find("value=\"")? + at + 7;
    Some(html[v..].split('"').next()?.to_owned())
}

async fn api_scoped_key(app: &TestApp, org: &Org, name: &str) -> Value {
    app.scoped_key(
        org,
        json!({"name": name, "org_permissions": perms(&[("billing_invoices", "read")]),
               "account_permissions": {"accounts": [org.accounts[0]], "resources": perms(&[("balances", "read")])}}),
    )
    .await
}

/// A NoJs client signed in as `email`.
async fn signed_in<'a>(app: &'a TestApp, email: &str) -> NoJs<'a> {
    let c = NoJs::new(app);
    let (_, _, page) = c.get("/app/sign-in").await;
    let (st, _, _) = c
        .post(
            "/app/sign-in",
            &[
                ("csrf", csrf(&page).as_str()),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(st, 200);
    c
}

async fn role_of(app: &TestApp, org: &Org, email: &str) -> Option<String> {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/members", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    r.body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .map(|m| m["role"].as_str().unwrap().to_owned())
}
